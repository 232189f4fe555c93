// Address forms, their synchronous TypeErrors and the asynchronous connect failure.
import type { Scenario } from '../src/types.js'

/**
 * connect(params.address, params.options) and report what is observable: the synchronous result,
 * `opened` (value or error), the order in which `opened`/`closed` settle, then `close()`.
 * In strings `$P` is the main server's port; the string `$P#` is the port as a number.
 */
export const connectAndReport: Scenario['run'] = async (k, p) => {
  const fill = (v: unknown): unknown =>
    typeof v === 'string'
      ? v === '$P#'
        ? k.port()
        : v.split('$P').join(String(k.port()))
      : v !== null && typeof v === 'object'
        ? Array.isArray(v)
          ? v.map(fill)
          : Object.fromEntries(Object.entries(v).map(([key, x]) => [key, fill(x)]))
        : v
  const address = fill(p.address)
  const args: unknown[] = p.noArgs ? [] : p.options === undefined ? [address] : [address, p.options]
  const socket = k.sync('connect', () => k.connect(...args))
  if (!socket) return
  k.watch('closed', socket.closed)
  k.watch('opened', socket.opened)
  await k.outcome(socket.opened, 3000)
  await k.outcome(socket.closed, 50)
  k.trace('close', await k.outcome(socket.close(), 2000))
}

const echo = { main: { kind: 'echo' as const } }

const addressCase = (id: string, address: unknown, title: string, extra = {}): Scenario => ({
  id,
  title,
  servers: echo,
  params: { address, ...extra },
  run: connectAndReport,
})

export const addressScenarios: Scenario[] = [
  addressCase('address-ipv4-string', '127.0.0.1:$P', 'IPv4 host:port string opens'),
  addressCase('address-object', { hostname: '127.0.0.1', port: '$P#' }, 'object form opens'),
  addressCase('address-localhost', 'localhost:$P', 'localhost by name, reported verbatim'),
  addressCase('address-localhost-uppercase', 'LOCALHOST:$P', 'upper-case name kept verbatim'),
  addressCase('address-port-leading-zero', '127.0.0.1:0$P', 'leading zero: still decimal'),
  addressCase('address-port-leading-zeros', '127.0.0.1:000$P', 'several leading zeros: decimal'),
  {
    id: 'address-ipv6-bracketed',
    title: '[::1]:port string opens',
    servers: { main: { kind: 'echo', host: '::1' } },
    params: { address: '[::1]:$P' },
    run: connectAndReport,
  },
  {
    id: 'address-ipv6-object-bracketed',
    title: 'object form with bracketed IPv6 hostname opens',
    servers: { main: { kind: 'echo', host: '::1' } },
    params: { address: { hostname: '[::1]', port: '$P#' } },
    run: connectAndReport,
  },
  {
    id: 'address-ipv6-object-unbracketed',
    title: 'object form with unbracketed IPv6 hostname fails asynchronously',
    servers: { main: { kind: 'echo', host: '::1' } },
    params: { address: { hostname: '::1', port: '$P#' } },
    run: connectAndReport,
  },
  addressCase('address-ipv6-unbracketed-string', '::1:$P', 'unbracketed IPv6 string: parse error'),
  addressCase('address-missing-port', '127.0.0.1', 'no port: missing port'),
  addressCase('address-empty-port', '127.0.0.1:', 'empty port: missing port'),
  addressCase('address-empty-string', '', 'empty string: missing hostname'),
  addressCase('address-port-only', ':$P', 'no hostname: parse error'),
  addressCase('address-port-out-of-range', '127.0.0.1:70000', 'port 70000: parse error'),
  addressCase('address-port-not-numeric', '127.0.0.1:abc', 'port abc: parse error'),
  addressCase('address-space', '127.0.0.1 :$P', 'space before the colon: parse error'),
  addressCase('address-port-zero', '127.0.0.1:0', 'port 0: async connect failure'),
  addressCase('address-scheme', 'tcp://127.0.0.1:$P', 'scheme prefix: missing port'),
  addressCase('address-path', '127.0.0.1:$P/x', 'path: unsupported characters'),
  addressCase('address-userinfo', 'u@127.0.0.1:$P', 'userinfo: unsupported characters'),
  addressCase('address-too-long', `${'a'.repeat(300)}:80`, 'over 255 characters'),
  addressCase('address-stars', `${'*'.repeat(64)}:42`, 'unsupported characters'),
  addressCase(
    'address-underscore-invalid',
    'under_score.invalid:$P',
    'underscore allowed, .invalid fails async'
  ),
  addressCase(
    'address-unknown-host',
    'nonexistent-host.invalid:1234',
    'unknown host: generic async failure'
  ),
  addressCase(
    'address-unknown-host-port-80',
    'nonexistent-host.invalid:80',
    'port 80 failure adds the fetch hint'
  ),
  addressCase(
    'address-unknown-host-port-443',
    'nonexistent-host.invalid:443',
    'port 443 failure adds the fetch hint'
  ),
  addressCase('address-number', 12345, 'a number is converted to a string'),
  addressCase('address-none', undefined, 'connect() with no arguments', { noArgs: true }),
  addressCase('address-undefined', undefined, 'connect(undefined)'),
  addressCase('address-null', null, 'connect(null)'),
  addressCase(
    'address-array',
    ['127.0.0.1', '$P#'],
    'an array is converted to a struct without port'
  ),
  addressCase('address-object-no-port', { hostname: '127.0.0.1' }, 'object without port'),
  addressCase(
    'address-object-port-range',
    { hostname: '127.0.0.1', port: 70000 },
    'object port 70000'
  ),
  addressCase(
    'address-object-port-negative',
    { hostname: '127.0.0.1', port: -1 },
    'object port -1'
  ),
  addressCase(
    'address-object-port-string',
    { hostname: '127.0.0.1', port: '$P' },
    'object port as a string is ToNumber-ed'
  ),
  addressCase(
    'address-object-empty-hostname',
    { hostname: '', port: '$P#' },
    'object with empty hostname fails async'
  ),
  addressCase(
    'address-object-hostname-with-port',
    { hostname: '127.0.0.1:$P', port: 1 },
    'hostname containing a port fails async'
  ),
  addressCase('address-extra-arguments', '127.0.0.1:$P', 'extra arguments are ignored', {
    options: {},
  }),
  addressCase('address-precedence', '127.0.0.1', 'address errors come before option errors', {
    options: { secureTransport: 'bogus' },
  }),
  addressCase(
    'address-precedence-invalid-host',
    '127.0.0.1:1/x',
    'isValidHost before option errors',
    {
      options: { secureTransport: 'bogus' },
    }
  ),
  {
    id: 'address-object-port-fraction-and-hex',
    title: 'object port 9101.5 is truncated, 0x-hex is ToNumber-ed',
    servers: echo,
    async run(k) {
      const a = k.connect({ hostname: '127.0.0.1', port: k.port() + 0.5 })
      k.trace('fraction', await k.outcome(a.opened, 2000))
      await a.close()
      const b = k.connect({ hostname: '127.0.0.1', port: `0x${k.port().toString(16)}` })
      k.trace('hex', await k.outcome(b.opened, 2000))
      await b.close()
    },
  },
  {
    id: 'address-url-object',
    title: 'a URL object is read through its hostname/port getters',
    servers: echo,
    async run(k) {
      const s = k.connect(new URL(`http://127.0.0.1:${k.port()}`))
      k.trace('opened', await k.outcome(s.opened, 2000))
      await s.close()
    },
  },
  {
    id: 'address-refused',
    title: 'refused port: generic error, closed rejects before opened, stream state after',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      const writer = s.writable.getWriter()
      const reader = s.readable.getReader()
      k.watch('closed', s.closed)
      k.watch('opened', s.opened)
      await k.outcome(s.closed, 3000)
      await k.outcome(s.opened, 100)
      k.trace('read-after', await k.outcome(reader.read(), 500))
      k.trace('write', await k.outcome(writer.write(k.bytes('x')), 500))
      k.trace('writer-close', await k.outcome(writer.close(), 500))
      k.trace('writer-closed', await k.outcome(writer.closed, 500))
      k.trace('close', await k.outcome(s.close(), 500))
      k.trace('closed-again', await k.outcome(s.closed, 100))
      k.trace(
        'distinct-errors',
        await Promise.all([
          s.opened.catch((e: unknown) => e),
          s.closed.catch((e: unknown) => e),
        ]).then(([a, b]) => a !== b)
      )
    },
  },
  {
    id: 'address-refused-pending-read',
    title: 'refused port: a read already pending when the connect fails',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      k.watch('read', reader.read())
      k.watch('closed', s.closed)
      await k.outcome(s.closed, 3000)
      await k.sleep(20)
      k.trace('reader-closed', await k.outcome(reader.closed, 200))
    },
  },
  {
    id: 'address-refused-error-shape',
    title: 'connect error objects: name, own property names, instanceof',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      const e = (await s.opened.then(
        () => new Error('opened'),
        (x: unknown) => x
      )) as Error
      k.trace('name', e.name)
      k.trace('own', Object.getOwnPropertyNames(e).sort())
      k.trace('instanceof', e instanceof Error)
      k.trace('ctor', e.constructor.name)
    },
  },
  {
    id: 'address-sync-error-shape',
    title: 'synchronous address errors are TypeErrors with own stack and message',
    servers: echo,
    run(k) {
      let e: unknown
      try {
        k.connect('127.0.0.1')
      } catch (x) {
        e = x
      }
      k.trace('instanceof-TypeError', e instanceof TypeError)
      k.trace('own', Object.getOwnPropertyNames(e).sort())
      k.trace('error', e)
      return Promise.resolve()
    },
  },
]
