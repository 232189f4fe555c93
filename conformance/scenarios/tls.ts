// `secureTransport: 'on'`, every startTls() precondition, and the full STARTTLS upgrade flow.
// workerd trusts the test CA through its config; the Node runner passes it as the `ca` option.
import type { Scenario } from '../src/types.js'

/** connect with TLS 'on' to params.host, echo a line, report what the server saw. */
const tlsOn: Scenario['run'] = async (k, p) => {
  const host = typeof p.host === 'string' ? p.host : 'localhost'
  const s = k.connect(`${host}:${k.port()}`, { secureTransport: 'on' })
  k.trace('secureTransport', s.secureTransport)
  k.watch('closed', s.closed)
  k.watch('opened', s.opened)
  const ok = await s.opened.then(
    () => true,
    () => false
  )
  if (ok) {
    const w = s.writable.getWriter()
    await w.write('over tls')
    k.trace('echo', await k.readN(s.readable.getReader(), 8))
  }
  k.trace('close', await k.outcome(s.close(), 2000))
  const view = await k.server(undefined, ok ? 'close' : undefined, 200)
  k.trace(
    'server-tls',
    view.events.filter((e) => e.startsWith('tls:'))
  )
}

/** Reads the plaintext greeting, asks for STARTTLS, reads the go-ahead, releases both locks. */
const STARTTLS = { main: { kind: 'starttls' as const, cert: 'localhost' as const } }

export const tlsScenarios: Scenario[] = [
  {
    id: 'tls-on-localhost',
    title: "secureTransport 'on' to localhost with the test CA",
    servers: { main: { kind: 'tls', cert: 'localhost' } },
    tls: true,
    run: tlsOn,
  },
  {
    id: 'tls-on-ip-literal',
    title: "secureTransport 'on' to 127.0.0.1 (certificate has the IP SAN)",
    servers: { main: { kind: 'tls', cert: 'localhost' } },
    tls: true,
    params: { host: '127.0.0.1' },
    run: tlsOn,
  },
  {
    id: 'tls-on-wrong-host',
    title: "secureTransport 'on', certificate for another name: generic connect error",
    servers: { main: { kind: 'tls', cert: 'wrongHost' } },
    tls: true,
    run: tlsOn,
  },
  {
    id: 'tls-on-untrusted',
    title: "secureTransport 'on', self-signed certificate: generic connect error",
    servers: { main: { kind: 'tls', cert: 'untrusted' } },
    tls: true,
    run: tlsOn,
  },
  {
    id: 'tls-on-plaintext-peer',
    title: "secureTransport 'on' to a plaintext server that talks first",
    servers: { main: { kind: 'greet', text: 'NOT TLS\r\n', then: 'open' } },
    tls: true,
    run: tlsOn,
  },
  {
    id: 'tls-on-greet-then-end',
    title: "secureTransport 'on': server sends over TLS and ends; EOF closes the socket",
    servers: { main: { kind: 'tls', cert: 'localhost', greet: 'tls hello' } },
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'on' })
      k.watch('closed', s.closed)
      k.trace('read', await k.outcome(k.readAll(s.readable.getReader()), 2000))
      k.trace('closed', await k.outcome(s.closed, 1000))
    },
  },
  {
    id: 'tls-on-refused',
    title: "secureTransport 'on' to a refused port",
    servers: { main: { kind: 'refuse' } },
    tls: true,
    run: tlsOn,
  },
  {
    id: 'starttls-on-tls-socket',
    title: "startTls() on an 'on' socket: Cannot startTls on a TLS socket",
    servers: { main: { kind: 'tls', cert: 'localhost' } },
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'on' })
      k.sync('startTls', () => s.startTls())
      await s.close()
    },
  },
  {
    id: 'starttls-on-off-socket',
    title: "startTls() on an 'off' socket",
    servers: { main: { kind: 'echo' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.sync('startTls', () => s.startTls())
      await s.opened
      k.sync('startTls-opened', () => s.startTls())
      await s.close()
    },
  },
  {
    id: 'starttls-twice-same-tick',
    title: 'startTls() twice in one tick: already called',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      await s.opened
      const t = s.startTls()
      k.sync('again', () => s.startTls())
      await s.close()
      await t.close()
    },
  },
  {
    id: 'starttls-twice-next-tick',
    title: 'startTls() again after a tick: connection closed before startTls',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      await s.opened
      const t = s.startTls()
      await k.sleep(0)
      k.sync('again', () => s.startTls())
      await t.close()
    },
  },
  {
    id: 'starttls-after-close',
    title: 'startTls() after close() completed, and during close()',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const a = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      await a.close()
      k.sync('after', () => a.startTls())
      const b = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      await b.opened
      const closing = b.close()
      const t = k.sync('during', () => b.startTls())
      await closing
      if (t) {
        k.trace('during-opened', await k.outcome(t.opened, 1000))
        await t.close()
      }
    },
  },
  {
    id: 'starttls-options-types',
    title: 'startTls options: a string or number is refused; null, {} and unknown keys pass',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      for (const options of ['x', 7, true]) {
        const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
        k.sync(`startTls(${String(options)})`, () => s.startTls(options))
        await s.close()
      }
      for (const options of [null, {}, { unknown: 1 }]) {
        const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
        const t = k.sync(`startTls(${JSON.stringify(options)})`, () => s.startTls(options))
        if (t) k.trace('secureTransport', t.secureTransport)
        await s.close()
        await t?.close()
      }
    },
  },
  {
    id: 'starttls-refused',
    title: 'startTls() on a socket whose connect fails',
    servers: { main: { kind: 'refuse' } },
    tls: true,
    async run(k) {
      const s = k.connect(k.addr(), { secureTransport: 'starttls' })
      const t = k.sync('startTls', () => s.startTls())
      if (!t) return
      k.watch('old.closed', s.closed)
      k.watch('new.opened', t.opened)
      k.watch('new.closed', t.closed)
      await k.outcome(t.closed, 2000)
      await k.sleep(20)
      k.sync('startTls-after', () => s.startTls())
    },
  },
  {
    id: 'starttls-full-flow',
    title: 'plaintext greeting, STARTTLS, upgrade: flags, settle order, TLS echo, old streams',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      k.trace('secureTransport', s.secureTransport)
      const reader = s.readable.getReader()
      const writer = s.writable.getWriter()
      k.trace('greeting', await k.readN(reader, 11))
      await writer.write('STARTTLS\r\n')
      k.trace('go', await k.readN(reader, 8))
      reader.releaseLock()
      writer.releaseLock()
      const t = s.startTls()
      k.trace('sync', { upgraded: s.upgraded, old: s.secureTransport, new: t.secureTransport })
      k.watch('old.closed', s.closed)
      k.watch('new.opened', t.opened)
      await k.outcome(t.opened, 3000)
      await k.sleep(10)
      k.trace('after', { upgraded: s.upgraded, newUpgraded: t.upgraded, old: s.secureTransport })
      const w = t.writable.getWriter()
      await w.write('secret')
      k.trace('echo', await k.readN(t.readable.getReader(), 6))
      k.sync('old.getReader', () => s.readable.getReader())
      k.sync('old.getWriter', () => s.writable.getWriter())
      k.trace('old.close', await k.outcome(s.close(), 1000))
      k.sync('old.startTls', () => s.startTls())
      k.trace('new.close', await k.outcome(t.close(), 1000))
      const view = await k.server(undefined, 'close')
      k.trace(
        'server',
        view.events.filter((e) => !e.startsWith('data:'))
      )
      k.trace('server-head', view.head)
    },
  },
  {
    id: 'starttls-new-socket-starttls',
    title: "the socket startTls() returns is 'on': startTls on it is refused",
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      const t = s.startTls()
      k.sync('startTls', () => t.startTls())
      await t.close()
    },
  },
  {
    id: 'starttls-immediate',
    title: 'startTls() right after connect(), before opened (server speaks TLS at once)',
    servers: { main: { kind: 'starttls', cert: 'localhost', immediate: true } },
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      const t = s.startTls()
      k.watch('old.opened', s.opened)
      k.watch('old.closed', s.closed)
      k.watch('new.opened', t.opened)
      await k.outcome(t.opened, 3000)
      const w = t.writable.getWriter()
      await w.write('quick')
      k.trace('echo', await k.readN(t.readable.getReader(), 5))
      await t.close()
      k.trace(
        'server-tls',
        (await k.server()).events.filter((e) => e.startsWith('tls:'))
      )
    },
  },
  {
    id: 'starttls-ip-literal-name',
    title: 'startTls() on a socket opened by IP: the IP is the TLS name',
    servers: { main: { kind: 'starttls', cert: 'localhost', immediate: true } },
    tls: true,
    async run(k) {
      const s = k.connect(`127.0.0.1:${k.port()}`, { secureTransport: 'starttls' })
      const t = s.startTls()
      k.trace('opened', await k.outcome(t.opened, 3000))
      await t.close()
      k.trace(
        'server-tls',
        (await k.server(undefined, 'tls')).events.filter((e) => e.startsWith('tls:'))
      )
    },
  },
  {
    id: 'starttls-expected-server-hostname',
    title: 'startTls({ expectedServerHostname }) is the TLS name for an IP connection',
    servers: { main: { kind: 'starttls', cert: 'localhost', immediate: true } },
    tls: true,
    async run(k) {
      const s = k.connect(`127.0.0.1:${k.port()}`, { secureTransport: 'starttls' })
      const t = s.startTls({ expectedServerHostname: 'localhost' })
      k.trace('opened', await k.outcome(t.opened, 3000))
      await t.close()
      k.trace(
        'server-tls',
        (await k.server(undefined, 'tls')).events.filter((e) => e.startsWith('tls:'))
      )
    },
  },
  {
    id: 'starttls-wrong-expected-hostname',
    title: 'startTls({ expectedServerHostname }) not matching the certificate',
    servers: { main: { kind: 'starttls', cert: 'localhost', immediate: true } },
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      const t = s.startTls({ expectedServerHostname: 'other.example' })
      k.watch('new.closed', t.closed)
      k.watch('new.opened', t.opened)
      await k.outcome(t.closed, 3000)
      await k.sleep(20)
    },
  },
  {
    id: 'starttls-untrusted',
    title: 'startTls() to a self-signed certificate: the new socket fails',
    servers: { main: { kind: 'starttls', cert: 'untrusted', immediate: true } },
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      const t = s.startTls()
      k.watch('new.closed', t.closed)
      k.watch('new.opened', t.opened)
      await k.outcome(t.closed, 3000)
      await k.sleep(20)
      k.trace('old', { upgraded: s.upgraded, closed: await k.outcome(s.closed, 100) })
      k.trace('write', await k.outcome(t.writable.getWriter().write('x'), 500))
      k.trace('read', await k.outcome(t.readable.getReader().read(), 500))
    },
  },
  {
    id: 'starttls-locked-reader',
    title: 'startTls() while the old reader is still locked',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      const reader = s.readable.getReader()
      k.trace('greeting', await k.readN(reader, 11))
      const t = s.startTls()
      k.watch('new.closed', t.closed)
      k.trace('new.opened', await k.outcome(t.opened, 300))
      k.trace('new.write', await k.outcome(t.writable.getWriter().write('x')))
      k.trace('new.read', await k.outcome(t.readable.getReader().read()))
      k.trace('old', { upgraded: s.upgraded, closed: await k.outcome(s.closed, 100) })
      await s.close()
    },
  },
  {
    id: 'starttls-locked-writer',
    title: 'startTls() while the old writer is still locked',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      s.writable.getWriter()
      await s.opened
      const t = s.startTls()
      k.watch('new.closed', t.closed)
      k.trace('new.opened', await k.outcome(t.opened, 300))
      k.trace('new.write', await k.outcome(t.writable.getWriter().write('x')))
      k.trace('old', { upgraded: s.upgraded, closed: await k.outcome(s.closed, 100) })
      await s.close()
    },
  },
  {
    id: 'tls-on-object-form',
    title: "secureTransport 'on' with the object form: hostname is the TLS name",
    servers: { main: { kind: 'tls', cert: 'localhost' } },
    tls: true,
    async run(k) {
      const s = k.connect({ hostname: 'localhost', port: k.port() }, { secureTransport: 'on' })
      k.trace('opened', await k.outcome(s.opened, 3000))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('obj')))
      k.trace('echo', await k.readN(s.readable.getReader(), 3))
      k.trace('close', await k.outcome(s.close()))
      k.trace(
        'server-tls',
        (await k.server(undefined, 'tls')).events.filter((e) => e.startsWith('tls:'))
      )
    },
  },
  {
    id: 'tls-on-write-before-handshake',
    title: "secureTransport 'on': a write made before the handshake is delivered after it",
    servers: { main: { kind: 'tls', cert: 'localhost' } },
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'on' })
      const w = s.writable.getWriter()
      const p = w.write('early')
      k.watch('opened', s.opened)
      k.watch('write', p)
      k.trace('echo', await k.readN(s.readable.getReader(), 5))
      await s.close()
    },
  },
  {
    id: 'starttls-plaintext-flushed-first',
    title: 'bytes written just before startTls() reach the server as plaintext, before TLS',
    servers: STARTTLS,
    tls: true,
    async run(k) {
      const s = k.connect(`localhost:${k.port()}`, { secureTransport: 'starttls' })
      const reader = s.readable.getReader()
      k.trace('greeting', await k.readN(reader, 11))
      reader.releaseLock()
      const writer = s.writable.getWriter()
      const sent = writer.write('STARTTLS\r\n')
      writer.releaseLock()
      k.trace('write', await k.outcome(sent))
      // The server answers "220 go" in plaintext; it must be read before the upgrade.
      const r2 = s.readable.getReader()
      k.trace('go', await k.readN(r2, 8))
      r2.releaseLock()
      const t = s.startTls()
      k.trace('opened', await k.outcome(t.opened, 3000))
      const w = t.writable.getWriter()
      await w.write('x')
      k.trace('echo', await k.readN(t.readable.getReader(), 1))
      await t.close()
      k.trace('server-head', (await k.server(undefined, 'close')).head)
    },
  },
  {
    id: 'starttls-without-upgrade',
    title: "a 'starttls' socket never upgraded behaves as plaintext",
    servers: { main: { kind: 'echo' } },
    async run(k) {
      const s = k.connect(k.addr(), { secureTransport: 'starttls' })
      const w = s.writable.getWriter()
      await w.write('plain')
      k.trace('echo', await k.readN(s.readable.getReader(), 5))
      k.trace('close', await k.outcome(s.close(), 1000))
      k.trace('upgraded', s.upgraded)
    },
  },
]
