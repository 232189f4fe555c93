// Hostile destinations through the real connect(), with the egress policy installed the way the
// host installs it and a resolver controlled by the test. Every denied input must fail like a
// workerd network failure, publish a denial naming a rule, and never reach the loopback servers.
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { after, before, describe, it } from 'node:test'
import type { EventEmitter } from 'node:events'
import { connect } from '../src/index.js'
import * as nodeNet from '../src/node/net.js'
import * as nodeTls from '../src/node/tls.js'
import { CONNECT_FAILED, PORT_25_PROHIBITED } from '../src/messages.js'
import { setSocketRuntime } from '../src/runtime.js'
import { createEgressPolicy } from '../src/egress/index.js'
import type { EgressPolicy } from '../src/egress/types.js'
import { HOSTILE, lookups, resolve } from '../../../test-support/hostile-destinations.js'
import { loopbackPair, type LoopbackPair } from '../../../test-support/servers.js'

/**
 * Wraps a policy so a decision that would send traffic off loopback fails the test instead of
 * connecting: the suite must never reach a real public address, even if the policy is wrong.
 */
function loopbackOnly(policy: EgressPolicy, escaped: string[]): EgressPolicy {
  return {
    async decide(hostname, port, signal) {
      const decision = await policy.decide(hostname, port, signal)
      if (decision.allowed && !['127.0.0.1', '::1', '::ffff:7f00:1'].includes(decision.address)) {
        escaped.push(`${hostname} -> ${decision.address}`)
        return { allowed: false, rule: 'test:guard', reason: 'would leave loopback' }
      }
      return decision
    },
  }
}

describe('egress: hostile destinations through connect()', () => {
  let pair: LoopbackPair
  const denials: { hostname: string; rule: string }[] = []
  const onDenied = (message: unknown): void => {
    denials.push(message as { hostname: string; rule: string })
  }
  before(async () => {
    pair = await loopbackPair()
    diagnosticsChannel.subscribe('wharf:sockets:egress-denied', onDenied)
  })
  after(async () => {
    diagnosticsChannel.unsubscribe('wharf:sockets:egress-denied', onDenied)
    setSocketRuntime(undefined)
    await pair.close()
  })

  it(`refuses ${HOSTILE.length} hostile inputs without a single connection`, async () => {
    assert.ok(HOSTILE.length >= 150, `only ${HOSTILE.length} inputs`)
    assert.equal(new Set(HOSTILE).size, HOSTILE.length, 'duplicate inputs')
    const escaped: string[] = []
    const policy = loopbackOnly(createEgressPolicy({ resolve, dnsTimeoutMs: 200 }), escaped)
    setSocketRuntime({ admit: () => ({ policy }) })
    const outcomes: string[] = []
    for (const input of HOSTILE) {
      const hostname = input.includes(':') ? `[${input}]` : input
      denials.length = 0
      let socket
      try {
        socket = connect({ hostname, port: pair.port })
      } catch (error) {
        // workerd's own address checks (bad characters, length) refuse it synchronously.
        assert.ok(error instanceof TypeError, `${input}: ${String(error)}`)
        outcomes.push(`${input}: TypeError`)
        continue
      }
      const failure = await socket.opened.then(
        () => undefined,
        (error: Error) => error
      )
      assert.ok(failure, `${input}: opened resolved`)
      assert.equal(failure.message, CONNECT_FAILED, `${input}: Worker-visible message`)
      await socket.closed.catch(() => undefined)
      assert.equal(denials.length, 1, `${input}: one denial event`)
      const denial = denials[0]
      assert.ok(denial && /^deny [a-z0-9]+:/.test(denial.rule), `${input}: rule ${denial?.rule}`)
      outcomes.push(`${input}: ${denial.rule}`)
    }
    // Give any stray connection time to land before counting.
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(escaped, [])
    assert.deepEqual(pair.hits, { v4: 0, v6: 0 }, outcomes.join('\n'))
    // Spellings that end in a number are IPv4 attempts: refused before DNS, never looked up.
    const numeric = lookups.filter((n) => /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$/i.test(n))
    assert.deepEqual(numeric, [])
    assert.ok(lookups.includes('loopback.test'), 'names do reach the resolver')
  })

  it(`refuses the same ${HOSTILE.length} inputs through node:net and node:tls (nodejs_compat), without a single connection`, async () => {
    const escaped: string[] = []
    const policy = loopbackOnly(createEgressPolicy({ resolve, dnsTimeoutMs: 200 }), escaped)
    setSocketRuntime({ admit: () => ({ policy }) })
    // Resolves with what the socket reported first: it must never be a connection.
    const outcome = (socket: EventEmitter, connected: string): Promise<string> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve('no answer within 5 s'), 5_000)
        socket.once(connected, () => (clearTimeout(timer), resolve('connected')))
        socket.once(
          'error',
          (error: Error) => (clearTimeout(timer), resolve(`error ${error.message}`))
        )
      })
    const failures: string[] = []
    for (const input of HOSTILE) {
      for (const [kind, open] of [
        ['net', () => nodeNet.connect({ host: input, port: pair.port })],
        ['tls', () => nodeTls.connect({ host: input, port: pair.port, servername: 'x.test' })],
      ] as const) {
        let socket: nodeNet.Socket
        try {
          socket = open()
        } catch (error) {
          // Node's own argument checks refuse it synchronously.
          assert.ok(error instanceof Error, `${kind} ${input}: ${String(error)}`)
          continue
        }
        const first = await outcome(socket, kind === 'net' ? 'connect' : 'secureConnect')
        socket.destroy()
        if (!first.startsWith('error ')) failures.push(`${kind} ${input}: ${first}`)
      }
    }
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(failures, [])
    assert.deepEqual(escaped, [])
    assert.deepEqual(pair.hits, { v4: 0, v6: 0 })
  })

  it('port 25 is refused with Cloudflare\u2019s message, and only when allowed may it connect', async () => {
    const escaped: string[] = []
    setSocketRuntime({
      admit: () => ({ policy: loopbackOnly(createEgressPolicy({ resolve }), escaped) }),
    })
    const socket = connect('203.0.113.9:25')
    await assert.rejects(socket.opened, { message: PORT_25_PROHIBITED })
    await assert.rejects(socket.closed, { message: PORT_25_PROHIBITED })
    // "025" is port 25 after parsing.
    const padded = connect('198.51.100.9:025')
    await assert.rejects(padded.opened, { message: PORT_25_PROHIBITED })
    const allowed = createEgressPolicy({ allowPort25: true, resolve })
    const decision = await allowed.decide('8.8.8.8', 25, AbortSignal.timeout(1000))
    assert.equal(decision.allowed, true)
    assert.deepEqual(escaped, [])
  })

  it('an explicitly allowed loopback address:port connects, and only that one', async () => {
    const escaped: string[] = []
    const policy = createEgressPolicy({
      allow: [`127.0.0.1:${pair.port}`],
      resolve,
    })
    setSocketRuntime({ admit: () => ({ policy: loopbackOnly(policy, escaped) }) })
    const before = { ...pair.hits }
    for (const address of [
      `127.0.0.1:${pair.port}`,
      `[::ffff:127.0.0.1]:${pair.port}`,
      `loopback.test:${pair.port}`,
    ]) {
      const socket = connect(address)
      await socket.opened
      await socket.close()
    }
    assert.equal(pair.hits.v4 - before.v4, 3)
    // The same host on another port, a shorthand spelling, and ::1 stay refused.
    for (const address of [
      `127.0.0.1:${pair.port + 1}`,
      `127.1:${pair.port}`,
      `[::1]:${pair.port}`,
    ]) {
      await assert.rejects(connect(address).opened, { message: CONNECT_FAILED })
    }
    assert.equal(pair.hits.v6, 0)
    assert.deepEqual(escaped, [])
  })
})
