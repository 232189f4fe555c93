// @wharf/sockets/node/net and /node/tls against real loopback servers: bulk transfer with
// backpressure, drain, half-open writes, idle timers, SNI on upgrade, and the runtime seam.
import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import net from '../src/node/net.js'
import tls from '../src/node/tls.js'
import { setSocketRuntime, type ConnectRequest } from '../src/runtime.js'
import { testPki } from '../../../test-support/certs.js'
import { echoServer, tcpServer, tlsServer, waitFor } from '../../../test-support/servers.js'

afterEach(() => setSocketRuntime(undefined))

/** Resolves with the event's arguments, or rejects after `ms`. */
async function within<T extends unknown[]>(
  emitter: NodeJS.EventEmitter,
  event: string,
  ms = 5000
): Promise<T> {
  return (await once(emitter, event, { signal: AbortSignal.timeout(ms) })) as T
}

test('8 MiB each way through an echo server: bytes and counters exact, backpressure honoured', async () => {
  const server = await echoServer()
  try {
    const payload = randomBytes(8 * 1024 * 1024)
    const s = net.connect(server.port, '127.0.0.1')
    await within(s, 'connect')
    const hash = createHash('sha256')
    let received = 0
    s.on('data', (d: Buffer) => {
      hash.update(d)
      received += d.length
    })
    let sawBackpressure = false
    let drains = 0
    s.on('drain', () => drains++)
    for (let at = 0; at < payload.length; at += 256 * 1024) {
      if (!s.write(payload.subarray(at, at + 256 * 1024))) {
        sawBackpressure = true
        await within(s, 'drain', 10_000)
      }
    }
    s.end()
    await within(s, 'close', 20_000)
    assert.equal(received, payload.length)
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'))
    assert.equal(s.bytesRead, payload.length)
    assert.equal(s.bytesWritten, payload.length)
    assert.ok(sawBackpressure, 'write() returned false at least once')
    assert.ok(drains > 0, "'drain' was emitted")
  } finally {
    await server.close()
  }
})

test('a paused socket stops reading: the server sees its writes back up', async () => {
  const server = await tcpServer((socket) => {
    const chunk = Buffer.alloc(64 * 1024, 120)
    let written = 0
    const pump = (): void => {
      while (written < 32 * 1024 * 1024) {
        written += chunk.length
        if (!socket.write(chunk)) {
          socket.once('drain', pump)
          return
        }
      }
      socket.end()
    }
    pump()
  }, false)
  try {
    const s = net.connect(server.port, '127.0.0.1')
    let received = 0
    s.on('data', (d: Buffer) => (received += d.length))
    await within(s, 'data')
    s.pause()
    await new Promise((resolve) => setTimeout(resolve, 300))
    const atPause = received
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(received, atPause, 'no data while paused')
    assert.ok(received < 32 * 1024 * 1024, 'the server could not push everything')
    s.resume()
    await within(s, 'end', 20_000)
    assert.equal(received, 32 * 1024 * 1024)
    await within(s, 'close')
  } finally {
    await server.close()
  }
})

test('allowHalfOpen: after the peer FINs we can still write, and the peer receives it', async () => {
  const server = await tcpServer((socket) => socket.end('bye'))
  try {
    const s = net.connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true })
    s.resume()
    await within(s, 'end')
    assert.equal(s.readyState, 'writeOnly')
    s.end('after-fin')
    await within(s, 'close')
    await waitFor(() => server.events.includes('end'), 3000, 'the server to see our FIN')
    assert.equal(Buffer.concat(server.received).toString(), 'after-fin')
  } finally {
    await server.close()
  }
})

test('setTimeout: activity postpones the timeout; setTimeout(0) cancels it', async () => {
  const server = await echoServer()
  try {
    const s = net.connect(server.port, '127.0.0.1')
    await within(s, 'connect')
    let timeouts = 0
    s.on('timeout', () => timeouts++)
    s.setTimeout(800)
    // Busy for ~900 ms, longer than the timeout: every write and echo restarts the idle timer.
    for (let i = 0; i < 6; i++) {
      s.write('x')
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
    assert.equal(timeouts, 0, 'no timeout while active')
    await within(s, 'timeout', 3000)
    s.setTimeout(0)
    const before = timeouts
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.equal(timeouts, before, 'cancelled')
    s.destroy()
    await within(s, 'close')
  } finally {
    await server.close()
  }
})

test('every net.connect and tls.connect passes the runtime; a refusal fails the socket', async () => {
  const server = await echoServer()
  const seen: ConnectRequest[] = []
  try {
    setSocketRuntime({
      admit(request) {
        seen.push(request)
        return request.port === server.port
          ? {}
          : { admitted: Promise.reject(new Error('over the limit')) }
      },
    })
    const ok = net.connect(server.port, '127.0.0.1')
    await within(ok, 'connect')
    ok.destroy()
    const refused = net.connect(server.port + 1 === 65536 ? 1 : server.port + 1, '127.0.0.1')
    const [error] = await within<[Error]>(refused, 'error')
    assert.equal(error.message, 'over the limit')
    const secure = tls.connect({ port: 1, host: 'localhost' })
    const [tlsError] = await within<[Error]>(secure, 'error')
    assert.equal(tlsError.message, 'over the limit')
    assert.deepEqual(
      seen.map((r) => r.secureTransport),
      ['starttls', 'starttls', 'on']
    )
    assert.equal(server.connections, 1, 'only the admitted socket reached the server')
  } finally {
    await server.close()
  }
})

test('tls.connect({ socket, servername }) sends that SNI and verifies it; ca is honoured', async () => {
  const pki = testPki()
  const server = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
  try {
    // Paused from the start: no read is pending when it is upgraded after 'connect' (a socket
    // that is reading can only be upgraded from inside its 'data' listener, as on workerd).
    const plain = net.connect(server.port, '127.0.0.1').pause()
    await within(plain, 'connect')
    const s = tls.connect({ socket: plain, servername: 'localhost', ca: pki.ca })
    await within(s, 'secureConnect')
    assert.equal(s.authorized, true)
    s.write('sni')
    const [echo] = await within<[Buffer]>(s, 'data')
    assert.equal(echo.toString(), 'sni')
    s.end()
    await within(s, 'close')
    assert.deepEqual(server.servernames, ['localhost'])
    // Without the CA the same upgrade fails.
    const plain2 = net.connect(server.port, '127.0.0.1').pause()
    await within(plain2, 'connect')
    const bad = tls.connect({ socket: plain2, servername: 'localhost' })
    const [error] = await within<[Error]>(bad, 'error')
    assert.match(error.message, /^internal error; reference = /)
  } finally {
    await server.close()
  }
})

test('a net.Server never listens: ERR_WHARF_NET_SERVER_UNSUPPORTED', async () => {
  const server = net.createServer()
  server.listen(0)
  const [error] = await within<[Error & { code?: string }]>(server, 'error')
  assert.equal(error.code, 'ERR_WHARF_NET_SERVER_UNSUPPORTED')
  assert.equal(server.listening, false)
})

test('BlockList fromJSON(toJSON()) round-trips', () => {
  const a = new net.BlockList()
  a.addAddress('10.1.2.3')
  a.addRange('::1', '::ff', 'ipv6')
  a.addSubnet('192.168.0.0', 16)
  const b = new net.BlockList()
  b.fromJSON(JSON.stringify(a.toJSON()))
  assert.deepEqual(b.rules, a.rules)
  assert.equal(b.check('192.168.77.1'), true)
  assert.equal(b.check('::80', 'ipv6'), true)
  assert.equal(b.check('::100', 'ipv6'), false)
})

test('a lookup that calls back twice opens one connection', async () => {
  const server = await echoServer()
  try {
    const s = net.connect({
      port: server.port,
      host: 'twice.test',
      lookup: (
        _host: string,
        _opts: unknown,
        cb: (e: Error | null, a: string, f: number) => void
      ) => {
        cb(null, '127.0.0.1', 4)
        cb(null, '127.0.0.1', 4)
      },
    })
    await within(s, 'connect')
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(server.connections, 1)
    s.destroy()
    await within(s, 'close')
  } finally {
    await server.close()
  }
})

test('the prototypes’ address and counter getters read as undefined, as in Node and workerd', () => {
  const prototypes = [net.Socket.prototype, tls.TLSSocket.prototype]
  for (const proto of prototypes) {
    for (const name of [
      'bytesRead',
      'bytesWritten',
      '_bytesDispatched',
      'localAddress',
      'localPort',
      'remoteAddress',
      'bufferSize',
    ]) {
      assert.equal((proto as unknown as Record<string, unknown>)[name], undefined, name)
    }
  }
  // An unconnected socket still counts.
  const s = new net.Socket()
  assert.equal(s.bytesRead, 0)
  assert.equal(s.bytesWritten, 0)
  assert.equal(s.localAddress, undefined)
  s.destroy()
})

test('options.signal: an abort before, at or after connect destroys the socket with an AbortError', async () => {
  const server = await echoServer()
  try {
    for (const when of ['before', 'after', 'constructor'] as const) {
      const controller = new AbortController()
      if (when === 'before') controller.abort('stop')
      const s =
        when === 'constructor'
          ? new net.Socket({ signal: controller.signal })
          : net.connect({ host: '127.0.0.1', port: server.port, signal: controller.signal })
      if (when !== 'before') controller.abort('stop')
      const closed = new Promise((resolve) => s.once('close', resolve))
      const [error] = await within<[Error & { cause?: unknown }]>(s, 'error')
      assert.equal(error.name, 'AbortError', when)
      assert.equal(error.cause, 'stop')
      await closed
      assert.throws(() => s.connect(server.port, '127.0.0.1'), { name: 'AbortError' })
    }
  } finally {
    await server.close()
  }
})

test('net.Socket and net.Stream are callable without new, as Node’s are', () => {
  const called = (net.Stream as unknown as (o: object) => InstanceType<typeof net.Socket>)({})
  assert.ok(called instanceof net.Socket)
  assert.equal(Object.getPrototypeOf(called), net.Socket.prototype)
  class Sub extends net.Socket {}
  assert.ok(new Sub() instanceof net.Socket)
  called.destroy()
})
