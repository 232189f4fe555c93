/**
 * Hostile destinations for egress tests: spellings of loopback, private and special ranges, and
 * malformed names, with a resolver the test controls (fixed answers per name, a failure, a hang
 * and a flood). Used by the sockets egress suite and by the tunnel connector's ingress suite, so
 * every path out is checked against the same inputs.
 */
import net from 'node:net'

export interface LookupAnswer {
  readonly address: string
  readonly family: number
}

const answers = (...addresses: string[]): LookupAnswer[] =>
  addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))

/** The test's DNS: fixed answers per name, a failure, a hang, and a flood. */
const zone: Record<string, () => Promise<readonly LookupAnswer[]>> = {
  'loopback.test': () => Promise.resolve(answers('127.0.0.1')),
  'v6loopback.test': () => Promise.resolve(answers('::1')),
  'mixed.test': () => Promise.resolve(answers('::1', '127.0.0.1')),
  'mapped.test': () => Promise.resolve(answers('::ffff:127.0.0.1')),
  'mappedhex.test': () => Promise.resolve(answers('::ffff:7f00:1')),
  'expanded.test': () => Promise.resolve(answers('0:0:0:0:0:0:0:1')),
  'zero.test': () => Promise.resolve(answers('0.0.0.0')),
  'unspecified6.test': () => Promise.resolve(answers('::')),
  'metadata.test': () => Promise.resolve(answers('169.254.169.254')),
  'imds6.test': () => Promise.resolve(answers('fd00:ec2::254')),
  'private.test': () => Promise.resolve(answers('10.0.0.1', '192.168.1.1', '172.16.5.4')),
  'cgnat.test': () => Promise.resolve(answers('100.64.0.1')),
  'nat64.test': () => Promise.resolve(answers('64:ff9b::7f00:1')),
  'sixtofour.test': () => Promise.resolve(answers('2002:7f00:1::1')),
  'teredo.test': () => Promise.resolve(answers('2001:0:4136:e378:8000:63bf:80ff:fffe')),
  'compat.test': () => Promise.resolve(answers('::127.0.0.1')),
  'testnet.test': () => Promise.resolve(answers('192.0.2.10', '198.51.100.10', '203.0.113.10')),
  'multicast.test': () => Promise.resolve(answers('224.0.0.1', 'ff02::1')),
  'badanswer.test': () => Promise.resolve(answers('127.1')),
  'garbage.test': () => Promise.resolve(answers('not-an-address')),
  'zoned.test': () => Promise.resolve(answers('fe80::1%lo')),
  'empty.test': () => Promise.resolve([]),
  'flood.test': () =>
    Promise.resolve(
      answers(...Array.from({ length: 10_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`))
    ),
  '127.0.0.1.nip.io': () => Promise.resolve(answers('127.0.0.1')),
  'localtest.me': () => Promise.resolve(answers('127.0.0.1', '::1')),
  'a.b.c.d.e.internal': () => Promise.resolve(answers('10.1.2.3')),
  localhost: () => Promise.resolve(answers('127.0.0.1', '::1')),
  'hang.test': () => new Promise<never>(() => undefined),
}
/** Every name the resolver was asked for, in order. */
export const lookups: string[] = []
export const resolve = (name: string): Promise<readonly LookupAnswer[]> => {
  lookups.push(name)
  const entry = zone[name]
  if (entry) return entry()
  // Like glibc and WHATWG URLs, read numeric spellings as IPv4: what a careless policy would let by.
  try {
    const host = new URL(`http://${name}/`).hostname
    if (net.isIPv4(host)) return Promise.resolve(answers(host))
  } catch {
    // not numeric
  }
  return Promise.reject(
    Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' })
  )
}

// Every spelling here points at loopback, a private or special range, or is malformed. With the
// default policy (public only) each must be refused. Grouped by what it tries.
export const HOSTILE: readonly string[] = [
  // IPv4 loopback, canonical and not
  '127.0.0.1',
  '127.0.0.2',
  '127.255.255.254',
  '127.1',
  '127.0.1',
  '0177.0.0.1',
  '0177.1',
  '017700000001',
  '0x7f.1',
  '0x7F.1',
  '0x7f.0.0.1',
  '0x7f000001',
  '0X7F000001',
  '2130706433',
  '127.000.000.001',
  '127.0.0.01',
  '0127.0.0.1',
  '0x7f.0x0.0x0.0x1',
  '0x7f.0x0.0x1',
  '0177.00.01',
  '127.0.0.1.',
  '127.1.',
  '0x7f.1.',
  '127.0.0.1..',
  '.127.0.0.1',
  '127.0.0.1.0',
  '127.0.0',
  '1.2.3.4.',
  '0x',
  '0x0',
  '00',
  '000000000000000127.0.0.1',
  '127.0.0.0x1',
  '127.0.0.1e0',
  // unspecified (Linux connects it to loopback)
  '0',
  '0.0.0.0',
  '00000.0.0.0',
  '0.0.0.1',
  '0.1.2.3',
  '::',
  '::0',
  '0:0:0:0:0:0:0:0',
  // IPv6 loopback spellings
  '::1',
  '0:0:0:0:0:0:0:1',
  '0000::1',
  '::0001',
  '0::1',
  '0:0::0:1',
  '::0:1',
  '0000:0000:0000:0000:0000:0000:0000:0001',
  // IPv4-mapped, -compatible and -translated loopback
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::FFFF:127.0.0.1',
  '::fFFf:7f00:0001',
  '0:0:0:0:0:ffff:127.0.0.1',
  '0:0:0:0:0:ffff:7f00:1',
  '::ffff:127.1.2.3',
  '::ffff:0.0.0.0',
  '::ffff:0:0',
  '::127.0.0.1',
  '::7f00:1',
  '::ffff:0:127.0.0.1',
  '::ffff:0:7f00:1',
  // NAT64, 6to4, Teredo carrying loopback or private
  '64:ff9b::127.0.0.1',
  '64:ff9b::7f00:1',
  '64:ff9b::a00:1',
  '64:ff9b::10.0.0.1',
  '64:ff9b::a9fe:a9fe',
  '64:ff9b:1::a00:1',
  '64:ff9b:1::7f00:1',
  '2002:7f00:1::',
  '2002:7f00:0001::1',
  '2002:a00:1::1',
  '2002:c0a8:1::',
  '2002:a9fe:a9fe::1',
  '2001:0:4136:e378:8000:63bf:80ff:fffe',
  '2001::1',
  // zone ids
  'fe80::1%lo',
  'fe80::1%1',
  '::1%lo',
  'fe80::1%25lo',
  // private IPv4 and its spellings
  '10.0.0.1',
  '10.255.255.255',
  '012.0.0.1',
  '0xa.0.0.1',
  '167772161',
  '10.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.0.1',
  '192.168.1.1',
  '3232235521',
  '0xc0a80001',
  '0300.0250.0.1',
  '192.168.1',
  '100.64.0.1',
  '100.127.255.254',
  '100.100.100.200',
  // link-local and cloud metadata
  '169.254.169.254',
  '169.254.170.2',
  '169.254.0.1',
  '0xA9FEA9FE',
  '0251.0376.0251.0376',
  '0xA9.0xFE.0xA9.0xFE',
  '2852039166',
  '169.254.43518',
  'fd00:ec2::254',
  '::ffff:169.254.169.254',
  '::ffff:a9fe:a9fe',
  // private and link-local IPv6
  'fc00::1',
  'fdff::1',
  'fd12:3456:789a::1',
  'fe80::1',
  'febf::1',
  'fec0::1',
  '::ffff:10.0.0.1',
  '::ffff:a00:1',
  '::10.0.0.1',
  '::ffff:0:10.0.0.1',
  '::ffff:192.168.0.1',
  // reserved, documentation, benchmarking, multicast, broadcast
  '192.0.0.1',
  '192.0.0.170',
  '192.0.2.1',
  '198.51.100.1',
  '203.0.113.1',
  '198.18.0.1',
  '198.19.255.255',
  '192.88.99.1',
  '224.0.0.1',
  '239.255.255.250',
  '240.0.0.1',
  '255.255.255.255',
  '100::1',
  '2001:db8::1',
  '2001:db8:85a3::8a2e:370:7334',
  '3fff::1',
  '5f00::1',
  'ff02::1',
  'ff05::1:3',
  '2001:2::1',
  '2001:10::1',
  '1::1',
  '4000::1',
  'e000::1',
  // names
  'localhost',
  'LOCALHOST',
  'localhost.',
  'loopback.test',
  'v6loopback.test',
  'mapped.test',
  'mappedhex.test',
  'expanded.test',
  'zero.test',
  'unspecified6.test',
  'metadata.test',
  'imds6.test',
  'private.test',
  'cgnat.test',
  'nat64.test',
  'sixtofour.test',
  'teredo.test',
  'compat.test',
  'testnet.test',
  'multicast.test',
  'badanswer.test',
  'garbage.test',
  'zoned.test',
  'empty.test',
  'flood.test',
  'nonexistent.invalid',
  'hang.test',
  '127.0.0.1.nip.io',
  'localtest.me',
  'a.b.c.d.e.internal',
  'mixed.test',
  // malformed and look-alikes
  '１２７.０.０.１',
  'ⓛⓞⓒⓐⓛⓗⓞⓢⓣ',
  'localhost\u0000',
  'local host',
  'a.com@127.0.0.1',
  '127.0.0.1#',
  'evil.com%00127.0.0.1',
  '-leading.test',
  'trailing-.test',
  'a..b',
  '..',
  'x'.repeat(64) + '.test',
  `${'a.'.repeat(130)}test`,
]
