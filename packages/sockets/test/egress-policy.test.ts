// The egress policy's decisions: rule syntax and specificity, categories, multi-answer names,
// DNS rebinding through the real connect(), and properties checked over generated addresses.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { connect } from '../src/index.js'
import { setSocketRuntime } from '../src/runtime.js'
import {
  EgressRuleError,
  createEgressPolicy,
  type EgressDecision,
  type EgressPolicyOptions,
  type LookupAnswer,
} from '../src/egress/index.js'
import { formatIp, parseIp } from '../src/egress/ip.js'
import { loopbackPair, type LoopbackPair } from '../../../test-support/servers.js'

const signal = (): AbortSignal => AbortSignal.timeout(2000)
const answers = (...addresses: string[]): LookupAnswer[] =>
  addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))

async function decide(
  options: EgressPolicyOptions,
  hostname: string,
  port = 443
): Promise<EgressDecision> {
  return createEgressPolicy(options).decide(hostname, port, signal())
}

describe('egress: decisions', () => {
  it('allows public addresses by default and connects to the canonical form', async () => {
    for (const [input, address] of [
      ['8.8.8.8', '8.8.8.8'],
      ['1.1.1.1', '1.1.1.1'],
      ['2606:4700:4700::1111', '2606:4700:4700::1111'],
      ['2606:4700:4700:0000:0000:0000:0000:1111', '2606:4700:4700::1111'],
      ['2001:4860:4860::8888', '2001:4860:4860::8888'],
      ['::ffff:8.8.8.8', '::ffff:808:808'],
      ['100.63.255.254', '100.63.255.254'],
      ['100.128.0.1', '100.128.0.1'],
      ['172.15.255.255', '172.15.255.255'],
      ['172.32.0.1', '172.32.0.1'],
      ['192.0.1.255', '192.0.1.255'],
    ]) {
      const d = await decide({}, input as string)
      assert.ok(d.allowed, `${input}: ${JSON.stringify(d)}`)
      assert.equal(d.address, address)
      assert.equal(d.rule, 'allow category:public')
    }
  })

  it('names the deciding rule for each class of address', async () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'deny default:local'],
      ['10.1.2.3', 'deny default:private'],
      ['240.0.0.1', 'deny default:reserved'],
      ['198.18.0.1', 'deny default:special'],
      ['64:ff9b::808:808', 'deny default:special'],
      ['169.254.169.254', 'deny metadata:169.254.169.254/32'],
      ['127.1', 'deny invalid:address'],
    ]
    for (const [input, rule] of cases) {
      const d = await decide({}, input)
      assert.equal(d.allowed, false, input)
      assert.equal(d.rule, rule, input)
      if (!d.allowed) assert.ok(d.reason.length > 0)
    }
  })

  it('most specific rule wins, deny wins ties (workerd\u2019s CIDR test)', async () => {
    const options = {
      allow: ['1.0.0.0/8', '1.2.3.0/24'],
      deny: ['1.2.0.0/16', '1.2.3.4/32', 'public'],
    }
    assert.equal((await decide(options, '1.0.0.1')).allowed, true)
    assert.equal((await decide(options, '1.2.2.1')).allowed, false)
    assert.equal((await decide(options, '1.2.3.1')).allowed, true)
    assert.equal((await decide(options, '1.2.3.4')).allowed, false)
    assert.equal((await decide(options, '8.8.8.8')).allowed, false, 'deny public = allowlist')
  })

  it('categories follow workerd: private includes local when allowed, network excludes local', async () => {
    assert.equal((await decide({ allow: ['private'] }, '127.0.0.1')).allowed, true)
    assert.equal((await decide({ allow: ['private'] }, '192.168.1.1')).allowed, true)
    assert.equal((await decide({ allow: ['network'] }, '10.0.0.1')).allowed, true)
    assert.equal((await decide({ allow: ['network'] }, '127.0.0.1')).allowed, false)
    assert.equal((await decide({ allow: ['local'] }, '::1')).allowed, true)
    assert.equal((await decide({ allow: ['local'] }, '10.0.0.1')).allowed, false)
    // Deny private removes private, not local.
    assert.equal((await decide({ allow: ['local'], deny: ['private'] }, '127.0.0.1')).allowed, true)
    // IPv6 unique-local (fc00::/7, both halves) is private: `allow private` reaches it, the
    // default names it private, and the first address outside it is not private.
    for (const ula of ['fc00::1', 'fd12:3456:789a::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
      assert.equal((await decide({ allow: ['private'] }, ula)).allowed, true, ula)
      assert.equal((await decide({}, ula)).rule, 'deny default:private', ula)
    }
    assert.notEqual((await decide({}, 'fe00::1')).rule, 'deny default:private', 'fe00::1')
    assert.equal((await decide({ allow: ['private'] }, 'fb00::1')).allowed, false, 'fb00::1')
    // Reserved and special ranges need an explicit CIDR, even with every category.
    const all = { allow: ['public', 'private', 'local', 'network'] }
    assert.equal((await decide(all, '240.1.2.3')).allowed, false)
    assert.equal((await decide(all, '192.0.2.1')).allowed, false)
    assert.equal((await decide({ allow: ['240.0.0.0/4'] }, '240.1.2.3')).allowed, true)
  })

  it('IPv4 rules match IPv4-mapped IPv6; tunnelled IPv4 must pass too', async () => {
    assert.equal((await decide({ allow: ['10.0.0.0/8'] }, '::ffff:10.1.1.1')).allowed, true)
    assert.equal((await decide({ deny: ['8.8.8.0/24'] }, '::ffff:8.8.8.8')).allowed, false)
    // An operator on DNS64 allows NAT64: the embedded address is still checked.
    const dns64 = { allow: ['64:ff9b::/96'] }
    assert.equal((await decide(dns64, '64:ff9b::808:808')).allowed, true)
    const inner = await decide(dns64, '64:ff9b::7f00:1')
    assert.equal(inner.allowed, false)
    assert.ok(!inner.allowed && inner.reason.includes('carries 127.0.0.1'), JSON.stringify(inner))
    assert.equal((await decide({ allow: ['2002::/16'] }, '2002:a00:1::1')).allowed, false)
    assert.equal((await decide({ allow: ['2002::/16'] }, '2002:808:808::1')).allowed, true)
  })

  it('ports: rules with ports, ranges, and port 25', async () => {
    const options = { allow: ['10.0.0.0/8:5432', '[fd00::/8]:6379-6380'] }
    assert.equal((await decide(options, '10.9.9.9', 5432)).allowed, true)
    assert.equal((await decide(options, '10.9.9.9', 5433)).allowed, false)
    assert.equal((await decide(options, 'fd00::5', 6380)).allowed, true)
    assert.equal((await decide(options, 'fd00::5', 6381)).allowed, false)
    const smtp = await decide({}, '8.8.8.8', 25)
    assert.ok(!smtp.allowed && smtp.workerMessage === 'Connections to port 25 are prohibited')
    assert.equal((await decide({ allow: ['8.8.8.8:25'] }, '8.8.8.8', 25)).allowed, true)
    // Allowing a host or range for every port does not open port 25 or other denied ports.
    assert.equal((await decide({ allow: ['10.0.0.0/8'] }, '10.1.1.1', 25)).allowed, false)
    assert.equal(
      (await decide({ allow: ['8.8.8.8'], deny: ['port:22'] }, '8.8.8.8', 22)).allowed,
      false
    )
    assert.equal(
      (await decide({ allow: ['8.8.8.8:22'], deny: ['port:22'] }, '8.8.8.8', 22)).allowed,
      true
    )
    assert.equal((await decide({ deny: ['port:1-1023'] }, '8.8.8.8', 443)).allowed, false)
    assert.equal((await decide({ deny: ['port:1-1023'] }, '8.8.8.8', 8443)).allowed, true)
    assert.equal((await decide({}, '8.8.8.8', 0)).allowed, false)
  })

  it('hostname rules: denies stop the name before DNS; allows vouch only for public answers', async () => {
    const looked: string[] = []
    const resolve = (name: string): Promise<LookupAnswer[]> => {
      looked.push(name)
      if (name === 'api.example.com') return Promise.resolve(answers('93.184.216.34'))
      if (name === 'evil.example.com') return Promise.resolve(answers('127.0.0.1'))
      return Promise.resolve(answers('93.184.216.35'))
    }
    const denied = await decide({ deny: ['*.blocked.test'], resolve }, 'x.y.blocked.test')
    assert.equal(denied.allowed, false)
    assert.equal(!denied.allowed && denied.rule, 'deny host:*.blocked.test')
    assert.deepEqual(looked, [])
    const allowlist = { allow: ['*.example.com:443'], deny: ['public'], resolve }
    assert.equal((await decide(allowlist, 'api.example.com', 443)).allowed, true)
    assert.equal((await decide(allowlist, 'api.example.com', 80)).allowed, false)
    assert.equal((await decide(allowlist, 'other.test', 443)).allowed, false)
    assert.equal((await decide(allowlist, 'evil.example.com', 443)).allowed, false)
    assert.equal((await decide(allowlist, 'API.Example.COM.', 443)).allowed, true)
  })

  it('several answers: first allowed in resolver order, or refuse all with strictMultiAnswer', async () => {
    const resolve = (): Promise<LookupAnswer[]> =>
      Promise.resolve(answers('10.0.0.1', '8.8.4.4', '8.8.8.8'))
    const d = await decide({ resolve }, 'split.test')
    assert.ok(d.allowed)
    assert.equal(d.address, '8.8.4.4')
    const strict = await decide({ resolve, strictMultiAnswer: true }, 'split.test')
    assert.equal(strict.allowed, false)
    assert.ok(!strict.allowed && strict.reason.startsWith('strictMultiAnswer'))
  })

  it('DNS failures, timeouts and floods are bounded denials', async () => {
    const hang = (): Promise<never> => new Promise(() => undefined)
    const started = Date.now()
    const d = await decide({ resolve: hang, dnsTimeoutMs: 100 }, 'hang.test')
    assert.equal(d.allowed, false)
    assert.ok(Date.now() - started < 1000)
    const flood = (): Promise<LookupAnswer[]> =>
      Promise.resolve(answers(...Array.from({ length: 100_000 }, () => '10.0.0.1'), '8.8.8.8'))
    assert.equal((await decide({ resolve: flood }, 'flood.test')).allowed, false)
    const aborted = new AbortController()
    const pending = createEgressPolicy({ resolve: hang }).decide('x.test', 443, aborted.signal)
    aborted.abort(new Error('connect timed out'))
    await assert.rejects(pending, /connect timed out/)
  })

  it('refuses bad rules with ERR_EGRESS_RULE, naming the rule', () => {
    for (const [effect, rule] of [
      ['allow', '127.1'],
      ['allow', '10.0.0.1/8'],
      ['allow', '10.0.0.0/33'],
      ['allow', '0x7f000001'],
      ['allow', 'port:25'],
      ['deny', 'port'],
      ['deny', 'port:0'],
      ['deny', 'port:70000'],
      ['deny', '10.0.0.0/8:5-1'],
      ['allow', '*.'],
      ['allow', 'a b'],
      ['allow', 'unix'],
      ['allow', 'ex*ample.com'],
      ['allow', '[::1'],
      ['allow', 'fe80::1%lo'],
      ['deny', ''],
      ['deny', 'x'.repeat(400)],
    ] as const) {
      assert.throws(
        () => createEgressPolicy(effect === 'allow' ? { allow: [rule] } : { deny: [rule] }),
        (error: unknown) => error instanceof EgressRuleError && error.code === 'ERR_EGRESS_RULE',
        `${effect} ${rule}`
      )
    }
    assert.throws(() =>
      createEgressPolicy({ allow: Array.from({ length: 10_001 }, () => 'public') })
    )
  })
})

// ---- properties -----------------------------------------------------------------------------

const DENIED_V4_BLOCKS: [number, number][] = [
  [0x00000000, 8],
  [0x0a000000, 8],
  [0x64400000, 10],
  [0x7f000000, 8],
  [0xa9fe0000, 16],
  [0xac100000, 12],
  [0xc0000000, 24],
  [0xc0000200, 24],
  [0xc0586300, 24],
  [0xc0a80000, 16],
  [0xc6120000, 15],
  [0xc6336400, 24],
  [0xcb007100, 24],
  [0xe0000000, 4],
  [0xf0000000, 4],
]

const v4InBlock = fc
  .tuple(fc.constantFrom(...DENIED_V4_BLOCKS), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([[base, prefix], rand]) => {
    const hostMask = prefix === 0 ? 0xffffffff : 0xffffffff >>> prefix
    return ((base & ~hostMask) | (rand & hostMask)) >>> 0
  })

const dotted = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
const hex16 = (n: number): string => `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`

/** Every way of writing an IPv4 address that some parser or resolver reads as that address. */
const SPELLINGS: ((n: number) => string)[] = [
  dotted,
  (n) => `::ffff:${dotted(n)}`,
  (n) => `::ffff:${hex16(n)}`,
  (n) => `0:0:0:0:0:ffff:${hex16(n)}`,
  (n) => `::${dotted(n)}`,
  (n) => `::ffff:0:${dotted(n)}`,
  (n) => `64:ff9b::${dotted(n)}`,
  (n) => `64:ff9b::${hex16(n)}`,
  (n) => `2002:${hex16(n)}::1`,
  (n) => `2001:0:4136:e378:8000:63bf:${hex16(~n >>> 0)}`,
  (n) => String(n),
  (n) => `0x${n.toString(16)}`,
  (n) =>
    [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
      .map((o) => `0${o.toString(8)}`)
      .join('.'),
  (n) => `${n >>> 24}.${n & 0xffffff}`,
  (n) => `${dotted(n)}.`,
]

/** A resolver that reads numeric spellings as glibc's inet_aton and WHATWG URLs do: the threat. */
function numericResolver(name: string): Promise<LookupAnswer[]> {
  try {
    const host = new URL(`http://${name}/`).hostname
    if (net.isIPv4(host)) return Promise.resolve(answers(host))
  } catch {
    // not a number in any spelling
  }
  return Promise.resolve([])
}

describe('egress: properties', () => {
  it('no spelling of an address in a denied range is ever allowed by the default policy', async () => {
    const policy = createEgressPolicy({ resolve: numericResolver })
    await fc.assert(
      fc.asyncProperty(
        v4InBlock,
        fc.integer({ min: 0, max: SPELLINGS.length - 1 }),
        fc.integer({ min: 1, max: 65535 }),
        async (n, spelling, port) => {
          const text = (SPELLINGS[spelling] ?? dotted)(n)
          const d = await policy.decide(text, port, signal())
          return !d.allowed
        }
      ),
      { numRuns: 3000 }
    )
  })

  it('no address inside an operator\u2019s denied CIDR is allowed; outside it the default holds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        async (base, prefix, probe) => {
          const mask = prefix === 32 ? 0xffffffff : ~(0xffffffff >>> prefix) >>> 0
          const network = (base & mask) >>> 0
          const policy = createEgressPolicy({
            allow: ['network'],
            deny: [`${dotted(network)}/${prefix}`],
          })
          const inside = ((network & mask) | (probe & ~mask)) >>> 0
          const d = await policy.decide(dotted(inside), 443, signal())
          if (d.allowed) return false
          const mapped = await policy.decide(`::ffff:${hex16(inside)}`, 443, signal())
          if (mapped.allowed) return false
          // Outside the block, the decision is the same as without the deny rule.
          const outside = (probe ^ (prefix === 32 ? 1 : 0x80000000 >>> (prefix - 1))) >>> 0
          if ((outside & mask) >>> 0 === network) return true
          const without = await createEgressPolicy({ allow: ['network'] }).decide(
            dotted(outside),
            443,
            signal()
          )
          const withRule = await policy.decide(dotted(outside), 443, signal())
          return without.allowed === withRule.allowed
        }
      ),
      { numRuns: 1500 }
    )
  })

  it('IPv4 parsing takes exactly the canonical dotted quads', () => {
    const octet = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
    const canonical = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`)
    const near = fc.stringMatching(/^[0-9.x]{0,17}$/)
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), near), (text) => {
        const ip = parseIp(text)
        if (!canonical.test(text)) return ip === undefined || ip.family === 6
        return (
          ip?.family === 4 &&
          Buffer.from(ip.bytes).equals(Buffer.from(text.split('.').map(Number))) &&
          formatIp(ip) === text
        )
      }),
      { numRuns: 5000 }
    )
    for (const refused of ['', '1.2.3', '1.2.3.4.', '.1.2.3.4', '1..2.3', '01.2.3.4', '1.2.3.256'])
      assert.equal(parseIp(refused), undefined, refused)
    assert.deepEqual([...(parseIp('0.0.0.0')?.bytes ?? [])], [0, 0, 0, 0])
    assert.deepEqual([...(parseIp('255.255.255.255')?.bytes ?? [])], [255, 255, 255, 255])
  })

  it('IPv6 parsing agrees with Node on every generated address', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const ip = parseIp(text)
        if (!ip) return false
        const again = parseIp(formatIp(ip))
        return (
          again !== undefined &&
          Buffer.from(again.bytes).equals(Buffer.from(ip.bytes)) &&
          net.isIPv6(formatIp(ip))
        )
      }),
      { numRuns: 2000 }
    )
  })
})

// ---- rebinding and pinning through the real connect() ---------------------------------------

describe('egress: DNS is resolved once and the checked address is the one connected', () => {
  let pair: LoopbackPair
  let port = 0
  let hits = { v4: 0, v6: 0 }
  before(async () => {
    pair = await loopbackPair({ v4: 'v4', v6: 'v6' })
    port = pair.port
    hits = pair.hits
  })
  after(async () => {
    setSocketRuntime(undefined)
    await pair.close()
  })

  async function readAll(socket: ReturnType<typeof connect>): Promise<string> {
    const reader = socket.readable.getReader()
    let text = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return text
      text += Buffer.from(value).toString()
    }
  }

  it('a rebinding name (allowed answer first, denied later) cannot reach the denied address', async () => {
    let calls = 0
    const resolve = (): Promise<LookupAnswer[]> => {
      calls++
      return Promise.resolve(calls === 1 ? answers('127.0.0.1') : answers('::1'))
    }
    const policy = createEgressPolicy({ allow: [`127.0.0.1:${port}`], resolve })
    setSocketRuntime({ admit: () => ({ policy }) })
    hits.v4 = hits.v6 = 0
    const first = connect(`rebind.test:${port}`)
    assert.equal(await readAll(first), 'v4')
    assert.equal(calls, 1, 'one lookup per connection, none by net.connect')
    const second = connect(`rebind.test:${port}`)
    await assert.rejects(second.opened, /proxy request failed/)
    assert.equal(calls, 2)
    assert.deepEqual(hits, { v4: 1, v6: 0 })
  })

  it('a name with a denied and an allowed answer connects to the allowed one; strict refuses', async () => {
    const resolve = (): Promise<LookupAnswer[]> => Promise.resolve(answers('::1', '127.0.0.1'))
    hits.v4 = hits.v6 = 0
    setSocketRuntime({
      admit: () => ({ policy: createEgressPolicy({ allow: [`127.0.0.1:${port}`], resolve }) }),
    })
    assert.equal(await readAll(connect(`split.test:${port}`)), 'v4')
    setSocketRuntime({
      admit: () => ({
        policy: createEgressPolicy({
          allow: [`127.0.0.1:${port}`],
          resolve,
          strictMultiAnswer: true,
        }),
      }),
    })
    await assert.rejects(connect(`split.test:${port}`).opened, /proxy request failed/)
    assert.deepEqual(hits, { v4: 1, v6: 0 })
  })

  it('random spellings of loopback never connect when loopback is not allowed', async () => {
    hits.v4 = hits.v6 = 0
    setSocketRuntime({
      admit: () => ({ policy: createEgressPolicy({ resolve: numericResolver }) }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: SPELLINGS.length - 1 }),
        fc.constantFrom(0x7f000001, 0x00000000),
        async (spelling, n) => {
          const text = (SPELLINGS[spelling] ?? dotted)(n)
          const hostname = text.includes(':') ? `[${text}]` : text
          let socket
          try {
            socket = connect({ hostname, port })
          } catch {
            return true
          }
          return socket.opened.then(
            () => false,
            () => true
          )
        }
      ),
      { numRuns: 60 }
    )
    await new Promise((r) => setTimeout(r, 30))
    assert.deepEqual(hits, { v4: 0, v6: 0 })
  })
})
