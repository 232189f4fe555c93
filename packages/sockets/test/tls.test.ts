// TLS: secureTransport 'on' and StartTLS against real TLS servers and a CA made for this run.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import net from 'node:net'
import tls from 'node:tls'
import { connect } from '../src/index.js'
import * as msg from '../src/messages.js'
import { testPki } from '../../../test-support/certs.js'
import { settleWithin, tcpServer, tlsServer, waitFor } from '../../../test-support/servers.js'

const pki = testPki()

async function readAll(readable: ReadableStream<Uint8Array>): Promise<string> {
  let text = ''
  for await (const chunk of readable) text += Buffer.from(chunk).toString()
  return text
}

test("secureTransport 'on': handshake with SNI and verification before opened", async (t) => {
  const server = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
  t.after(() => server.close())
  const s = connect(`localhost:${server.port}`, { secureTransport: 'on', ca: pki.ca })
  assert.equal(s.secureTransport, 'on')
  const info = await s.opened
  assert.equal(info.remoteAddress, `localhost:${server.port}`)
  await waitFor(() => server.servernames.length > 0, 2000, 'server handshake')
  assert.deepEqual(server.servernames, ['localhost'])
  const writer = s.writable.getWriter()
  await writer.write('secret')
  await writer.close()
  assert.equal(await readAll(s.readable), 'secret')
  await s.closed
})

test("secureTransport 'on' to an IP literal verifies the IP SAN and sends no SNI", async (t) => {
  const server = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
  t.after(() => server.close())
  const s = connect(`127.0.0.1:${server.port}`, { secureTransport: 'on', ca: pki.ca })
  await s.opened
  await waitFor(() => server.servernames.length > 0, 2000, 'server handshake')
  assert.deepEqual(server.servernames, [false])
  await s.close()
})

test('TLS refuses an untrusted chain, a wrong hostname, and a plaintext peer (generic error)', async (t) => {
  const untrusted = await tlsServer({ key: pki.untrusted.key, cert: pki.untrusted.cert })
  const wrong = await tlsServer({ key: pki.wrongHost.key, cert: pki.wrongHost.cert })
  const plain = await tcpServer((sock) => sock.write('220 not tls\r\n'))
  t.after(() => Promise.all([untrusted.close(), wrong.close(), plain.close()]))
  for (const server of [untrusted, wrong, plain]) {
    const s = connect(`localhost:${server.port}`, { secureTransport: 'on', ca: pki.ca })
    await assert.rejects(s.opened, { name: 'Error', message: msg.CONNECT_FAILED })
    await assert.rejects(s.closed, { message: msg.CONNECT_FAILED })
  }
  // without the test CA, even the good certificate is refused (Node's bundled roots only)
  const good = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
  t.after(() => good.close())
  const s = connect(`localhost:${good.port}`, { secureTransport: 'on' })
  await assert.rejects(s.opened, { message: msg.CONNECT_FAILED })
})

/** A STARTTLS server: plaintext greeting, upgrade on "STARTTLS", then echo inside TLS. */
async function startTlsServer(
  cert = pki.localhost
): Promise<Awaited<ReturnType<typeof tcpServer>> & { servernames: (string | false)[] }> {
  const servernames: (string | false)[] = []
  const context = tls.createSecureContext({ key: cert.key, cert: cert.cert })
  const server = await tcpServer((sock) => {
    sock.write('220 hello\r\n')
    sock.once('data', (d: Buffer) => {
      if (d.toString() !== 'STARTTLS\r\n') return sock.destroy()
      sock.write('220 go ahead\r\n', () => {
        const secure = new tls.TLSSocket(sock, { isServer: true, secureContext: context })
        secure.on('secure', () =>
          servernames.push(
            (secure as tls.TLSSocket & { servername?: string | false }).servername ?? false
          )
        )
        secure.on('data', (x: Buffer) => secure.write(x))
        secure.on('end', () => secure.end())
        secure.on('error', () => secure.destroy())
      })
    })
  }, false)
  return Object.assign(server, { servernames })
}

async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const { value } = await reader.read()
  return Buffer.from(value as Uint8Array).toString()
}

test('startTls: full upgrade flow with SNI = connect hostname, old socket upgraded/closed', async (t) => {
  const server = await startTlsServer()
  t.after(() => server.close())
  const s = connect(`localhost:${server.port}`, { secureTransport: 'starttls', ca: pki.ca })
  const reader = s.readable.getReader()
  const writer = s.writable.getWriter()
  assert.equal(await readLine(reader), '220 hello\r\n')
  await writer.write('STARTTLS\r\n')
  assert.equal(await readLine(reader), '220 go ahead\r\n')
  reader.releaseLock()
  writer.releaseLock()
  const secure = s.startTls()
  assert.equal(s.upgraded, false, 'not upgraded synchronously')
  assert.throws(() => s.startTls(), { name: 'TypeError', message: msg.STARTTLS_TWICE })
  assert.equal(secure.secureTransport, 'on')
  assert.equal(secure.upgraded, false)
  const newWriter = secure.writable.getWriter()
  let readyFirst = false
  void newWriter.ready.then(() => (readyFirst = true))
  await s.closed
  assert.equal(
    readyFirst,
    true,
    'new writer.ready settles before the old closed (postgres.js relies on it)'
  )
  assert.equal(s.upgraded, true)
  assert.equal(s.secureTransport, 'starttls')
  assert.throws(() => s.readable.getReader(), { name: 'TypeError', message: msg.READABLE_LOCKED })
  assert.throws(() => s.writable.getWriter(), { name: 'TypeError', message: msg.WRITABLE_LOCKED })
  assert.throws(() => s.startTls(), { name: 'TypeError', message: msg.STARTTLS_CLOSED })
  assert.equal(await s.close(), undefined)
  assert.equal((await secure.opened).remoteAddress, `localhost:${server.port}`)
  await waitFor(() => server.servernames.length > 0, 2000, 'server handshake')
  assert.deepEqual(server.servernames, ['localhost'])
  await newWriter.write('inside tls')
  await newWriter.close()
  assert.equal(await readAll(secure.readable), 'inside tls')
  await secure.closed
})

test('startTls preconditions, in workerd order', async (t) => {
  const server = await tcpServer(() => {})
  const secureServer = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
  t.after(() => Promise.all([server.close(), secureServer.close()]))
  const on = connect(`localhost:${secureServer.port}`, { secureTransport: 'on', ca: pki.ca })
  assert.throws(() => on.startTls(), { name: 'TypeError', message: msg.STARTTLS_ON_TLS })
  const off = connect(server.address)
  assert.throws(() => off.startTls(), { name: 'TypeError', message: msg.STARTTLS_NOT_STARTTLS })
  const st = connect(server.address, { secureTransport: 'starttls' })
  assert.throws(() => (st.startTls as (o: unknown) => unknown)('x'), {
    message: msg.STARTTLS_OPTIONS_NOT_OBJECT,
  })
  await st.close()
  assert.throws(() => st.startTls(), { name: 'TypeError', message: msg.STARTTLS_CLOSED })
  await Promise.all([on.close(), off.close()])
})

test('startTls with a still-locked reader: new socket I/O rejects, opened stays pending, old not upgraded', async (t) => {
  const server = await startTlsServer()
  t.after(() => server.close())
  const s = connect(`localhost:${server.port}`, { secureTransport: 'starttls', ca: pki.ca })
  const reader = s.readable.getReader()
  await readLine(reader)
  const secure = s.startTls()
  await assert.rejects(secure.closed, {
    name: 'TypeError',
    message: msg.READABLE_LOCKED_ON_UPGRADE,
  })
  assert.equal((await settleWithin(secure.opened, 100)).state, 'pending')
  assert.equal(s.upgraded, false)
  assert.equal((await settleWithin(s.closed, 50)).state, 'pending')
  reader.releaseLock()
  await s.close()
})

test('startTls verifies the certificate: wrong host refused; expectedServerHostname honoured', async (t) => {
  const wrong = await startTlsServer(pki.wrongHost)
  t.after(() => wrong.close())
  async function upgrade(options?: { expectedServerHostname?: string }) {
    const s = connect(`127.0.0.1:${wrong.port}`, { secureTransport: 'starttls', ca: pki.ca })
    const reader = s.readable.getReader()
    const writer = s.writable.getWriter()
    await readLine(reader)
    await writer.write('STARTTLS\r\n')
    await readLine(reader)
    reader.releaseLock()
    writer.releaseLock()
    return s.startTls(options)
  }
  const refused = await upgrade()
  await assert.rejects(refused.opened, (e: Error) =>
    /^internal error; reference = [0-9a-f]+$/.test(e.message)
  )
  const accepted = await upgrade({ expectedServerHostname: 'wrong.example' })
  await accepted.opened
  await waitFor(() => wrong.servernames.length > 0, 2000, 'server handshake')
  assert.deepEqual(wrong.servernames, ['wrong.example'])
  await accepted.close()
})

test('diagnostics_channel publishes connect, connected, error and close', async (t) => {
  const dc = await import('node:diagnostics_channel')
  const seen: string[] = []
  const subs: [string, (m: unknown) => void][] = ['connect', 'connected', 'error', 'close'].map(
    (name) => [
      `wharf:sockets:${name}`,
      (m: unknown) => seen.push(`${name}:${(m as { address: string }).address}`),
    ]
  )
  for (const [name, fn] of subs) dc.subscribe(name, fn)
  t.after(() => {
    for (const [name, fn] of subs) dc.unsubscribe(name, fn)
  })
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  const s = connect(server.address)
  await s.opened
  await s.close()
  const bad = connect('127.0.0.1:1')
  await bad.closed.catch(() => {})
  await waitFor(() => seen.length >= 6)
  assert.deepEqual(seen, [
    `connect:${server.address}`,
    `connected:${server.address}`,
    `close:${server.address}`,
    'connect:127.0.0.1:1',
    'error:127.0.0.1:1',
    'close:127.0.0.1:1',
  ])
  void net
})

test('startTls({ ca }) trusts that CA for the handshake (Node-only extra; pg passes ssl.ca here)', async (t) => {
  const server = await startTlsServer()
  t.after(() => server.close())
  async function upgrade(options: Record<string, unknown>) {
    const s = connect(`localhost:${server.port}`, { secureTransport: 'starttls' })
    const reader = s.readable.getReader()
    const writer = s.writable.getWriter()
    await readLine(reader)
    await writer.write('STARTTLS\r\n')
    await readLine(reader)
    reader.releaseLock()
    writer.releaseLock()
    return s.startTls(options)
  }
  // Without the CA the server is not trusted; with it, the handshake completes and data flows.
  await assert.rejects((await upgrade({})).opened, /^Error: internal error; reference = /)
  const secure = await upgrade({ ca: pki.ca })
  await secure.opened
  const writer = secure.writable.getWriter()
  await writer.write('over tls')
  const { value } = await secure.readable.getReader().read()
  assert.equal(Buffer.from(value ?? []).toString(), 'over tls')
  await secure.close()
  assert.throws(
    () =>
      connect(`localhost:${server.port}`, { secureTransport: 'starttls' }).startTls({
        ca: 42,
      } as unknown as { ca: string }),
    { name: 'TypeError', message: /ca must be a PEM string/ }
  )
})

test('a connect() ca does not drop NODE_EXTRA_CA_CERTS (trusted through the environment)', async (t) => {
  const server = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
  t.after(() => server.close())
  // A child whose environment trusts the test CA, connecting with an unrelated extra `ca`.
  const script = [
    "import { connect } from '@wharf/sockets'",
    `const s = connect('localhost:${server.port}', { secureTransport: 'on', ca: ${JSON.stringify(pki.untrusted.cert)} })`,
    "s.opened.then(() => { console.log('opened'); return s.close() }, (e) => { console.log('refused', e.message); process.exitCode = 1 })",
  ].join('\n')
  // Asynchronously: the server runs in this process.
  const child = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caPath },
    encoding: 'utf8',
    timeout: 20_000,
  })
  assert.equal(child.stdout.trim(), 'opened', child.stderr)
})

test("secureTransport 'on' to [::1] accepts a certificate naming ::1 and refuses one without it", async (t) => {
  // Node 22 with OpenSSL 3.5 refuses the first by itself: it compares `::1` with the certificate's
  // `0:0:0:0:0:0:0:1` as text.
  const v4Only = pki.issue('v4-only', ['DNS:localhost', 'IP:127.0.0.1'])
  const listen = async (cert: { key: string; cert: string }): Promise<tls.Server> => {
    const server = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => s.end('hi'))
    server.on('tlsClientError', () => undefined)
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve))
    t.after(() => server.close())
    return server
  }
  const port = (server: tls.Server): number => (server.address() as net.AddressInfo).port
  const named = await listen(pki.localhost)
  const s = connect(`[::1]:${port(named)}`, { secureTransport: 'on', ca: pki.ca })
  await s.opened
  assert.equal(await readAll(s.readable), 'hi')
  await s.close()
  const unnamed = await listen(v4Only)
  const refused = connect(`[::1]:${port(unnamed)}`, { secureTransport: 'on', ca: pki.ca })
  await assert.rejects(refused.opened, { message: msg.CONNECT_FAILED })
})
