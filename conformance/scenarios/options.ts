// Options and object shape: option conversion and validation, the values a socket reports.
import type { Scenario } from '../src/types.js'
import { connectAndReport } from './address.js'

/** connect(main, params.options): what the socket reports before and after opening. */
const inspect: Scenario['run'] = async (k, p) => {
  const s = k.sync('connect', () => k.connect(k.addr(), p.options))
  if (!s) return
  k.trace('secureTransport', s.secureTransport)
  k.trace('upgraded', s.upgraded)
  const writer = s.writable.getWriter()
  k.trace('desiredSize', writer.desiredSize)
  k.trace('opened', await k.outcome(s.opened, 3000))
  k.trace('close', await k.outcome(s.close(), 2000))
}

const echo = { main: { kind: 'echo' as const } }

const optionCase = (id: string, options: unknown, title: string): Scenario => ({
  id,
  title,
  servers: echo,
  params: { address: '127.0.0.1:$P', options },
  run: connectAndReport,
})

const inspectCase = (id: string, options: unknown, title: string): Scenario => ({
  id,
  title,
  servers: echo,
  params: { options },
  run: inspect,
})

export const optionScenarios: Scenario[] = [
  optionCase('options-null', null, 'options null: struct conversion TypeError'),
  optionCase('options-number', 5, 'options a number: not SocketOptions'),
  optionCase('options-string', 'on', 'options a string: not SocketOptions'),
  optionCase('options-array', [], 'options an array is an object: accepted'),
  optionCase('options-secure-bogus', { secureTransport: 'bogus' }, 'unknown secureTransport'),
  optionCase(
    'options-secure-uppercase',
    { secureTransport: 'ON' },
    'secureTransport is case-sensitive'
  ),
  optionCase('options-secure-number', { secureTransport: 1 }, 'secureTransport 1 is ToString-ed'),
  optionCase('options-secure-null', { secureTransport: null }, 'secureTransport null'),
  optionCase('options-hwm-negative', { highWaterMark: -1 }, 'negative highWaterMark'),
  optionCase('options-hwm-string', { highWaterMark: 'abc' }, 'non-numeric highWaterMark'),
  optionCase('options-hwm-numeric-string', { highWaterMark: '10' }, 'highWaterMark "10"'),
  optionCase('options-hwm-null', { highWaterMark: null }, 'highWaterMark null'),
  optionCase('options-unknown-key', { nope: 1 }, 'unknown option keys are ignored'),
  inspectCase('options-default-values', undefined, 'defaults: off, not upgraded, desiredSize 1'),
  inspectCase('options-secure-off', { secureTransport: 'off' }, "explicit 'off'"),
  inspectCase('options-secure-starttls', { secureTransport: 'starttls' }, "'starttls' reports so"),
  inspectCase('options-hwm-10', { highWaterMark: 10 }, 'highWaterMark 10 → desiredSize 10'),
  inspectCase('options-hwm-0', { highWaterMark: 0 }, 'highWaterMark 0 → desiredSize 0'),
  inspectCase('options-hwm-fraction', { highWaterMark: 2.7 }, 'fractional highWaterMark'),
  inspectCase(
    'options-half-open-truthy',
    { allowHalfOpen: 'yes' },
    'allowHalfOpen is ToBoolean-ed'
  ),
  {
    id: 'options-hwm-bigint',
    title: 'highWaterMark as a bigint, and a negative bigint',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr(), { highWaterMark: BigInt(7) })
      k.trace('desiredSize', s.writable.getWriter().desiredSize)
      await s.close()
      k.sync('negative', () => k.connect(k.addr(), { highWaterMark: BigInt(-1) }))
    },
  },
  {
    id: 'options-hwm-not-finite',
    title: 'highWaterMark NaN and Infinity',
    servers: echo,
    run(k) {
      k.sync('nan', () => k.connect(k.addr(), { highWaterMark: NaN }))
      k.sync('infinity', () => k.connect(k.addr(), { highWaterMark: Infinity }))
      return Promise.resolve()
    },
  },
  {
    id: 'options-getter-order',
    title: 'option members are read once, in declaration order, after the address',
    servers: echo,
    async run(k) {
      const reads: string[] = []
      const options = {}
      for (const key of ['highWaterMark', 'allowHalfOpen', 'secureTransport']) {
        Object.defineProperty(options, key, {
          get() {
            reads.push(key)
            return undefined
          },
          enumerable: true,
        })
      }
      const address = {
        get hostname() {
          reads.push('hostname')
          return '127.0.0.1'
        },
        get port() {
          reads.push('port')
          return k.port()
        },
      }
      const s = k.connect(address, options)
      k.trace('reads', reads)
      await s.close()
    },
  },
  {
    id: 'options-hwm-backpressure',
    title: 'highWaterMark 10: desiredSize goes negative with a queued 16-byte write',
    servers: { main: { kind: 'silent' } },
    async run(k) {
      const s = k.connect(k.addr(), { highWaterMark: 10 })
      const w = s.writable.getWriter()
      k.trace('before', w.desiredSize)
      const p = w.write(new Uint8Array(16))
      k.trace('after', w.desiredSize)
      await p
      await k.sleep(10)
      k.trace('drained', w.desiredSize)
      await s.close()
    },
  },
  {
    id: 'shape-socket',
    title: 'Socket shape: prototype members, no own properties, tag, memoized getters',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const proto = Object.getPrototypeOf(s) as object
      k.trace('proto-names', Object.getOwnPropertyNames(proto).sort())
      k.trace('own-names', Object.getOwnPropertyNames(s))
      k.trace('tag', Object.prototype.toString.call(s))
      k.trace('memoized', [
        s.readable === s.readable,
        s.writable === s.writable,
        s.opened === s.opened,
        s.closed === s.closed,
      ])
      k.trace('stream-ctors', [s.readable.constructor.name, s.writable.constructor.name])
      const Ctor = s.constructor as new () => unknown
      k.sync('new', () => new Ctor())
      k.trace('connect', [typeof k.connect, k.connect.length, k.connect.name])
      const c1 = s.close()
      const c2 = s.close()
      k.trace('close-distinct', [c1 !== c2, c1 !== s.closed])
      k.trace('close-values', [await c1, await c2])
    },
  },
  {
    id: 'shape-opened-value',
    title: 'opened value: both keys present, localAddress undefined, JSON form',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const info = await s.opened
      k.trace('keys', Object.keys(info))
      k.trace('has-local', 'localAddress' in info)
      k.trace('json', JSON.stringify(info))
      k.trace('same', (await s.opened) === info)
      await s.close()
    },
  },
]
