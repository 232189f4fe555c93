// opened / closed / close() / failures: values and the order in which things settle.
import net from 'node:net'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, Socket } from '../src/index.js'
import * as msg from '../src/messages.js'
import { setSocketRuntime } from '../src/runtime.js'
import {
  echoServer,
  refusedPort,
  settleWithin,
  tcpServer,
  waitFor,
} from '../../../test-support/servers.js'

test('opened resolves SocketInfo with both keys; object shape matches workerd', async (t) => {
  const server = await echoServer()
  t.after(() => server.close())
  const s = connect(server.address)
  const info = await s.opened
  assert.deepEqual(Object.keys(info), ['remoteAddress', 'localAddress'])
  assert.equal(info.remoteAddress, server.address)
  assert.equal(info.localAddress, undefined)
  assert.equal(JSON.stringify(info), JSON.stringify({ remoteAddress: server.address }))
  assert.equal(Object.prototype.toString.call(s), '[object Socket]')
  assert.deepEqual(Object.getOwnPropertyNames(s), [])
  assert.equal(s.readable, s.readable)
  assert.equal(s.opened, s.opened)
  assert.equal(s.closed, s.closed)
  assert.equal(s.readable.constructor.name, 'ReadableStream')
  assert.equal(s.writable.constructor.name, 'WritableStream')
  assert.ok(s.readable instanceof ReadableStream)
  assert.equal(s.secureTransport, 'off')
  assert.equal(s.upgraded, false)
  assert.throws(() => new (Socket as unknown as new () => Socket)(), {
    name: 'TypeError',
    message: 'Illegal constructor',
  })
  assert.equal(connect.length, 2)
  await s.close()
})

test('refused: closed rejects before opened, distinct Errors; I/O afterwards as workerd', async () => {
  const port = await refusedPort()
  const s = connect(`127.0.0.1:${port}`)
  const reader = s.readable.getReader()
  const pendingRead = reader.read()
  const order: string[] = []
  const closedErr = s.closed.catch((e: Error) => {
    order.push('closed:rej')
    return e
  })
  const openedErr = s.opened.catch((e: Error) => {
    order.push('opened:rej')
    return e
  })
  const [c, o] = await Promise.all([closedErr, openedErr])
  assert.deepEqual(order, ['closed:rej', 'opened:rej'])
  assert.notEqual(c, o)
  assert.equal((c as Error).message, msg.CONNECT_FAILED)
  await assert.rejects(pendingRead, { message: 'Stream was cancelled.' })
  assert.deepEqual(await reader.read(), { done: true, value: undefined })
  const writer = s.writable.getWriter()
  await assert.rejects(writer.write(new Uint8Array([1])), {
    message: `jsg.Error: ${msg.CONNECT_FAILED}`,
  })
  await writer.close() // resolves: close waits for opened and ignores its failure
  await assert.rejects(writer.closed, { message: `jsg.Error: ${msg.CONNECT_FAILED}` })
  assert.equal(await s.close(), undefined)
})

test('rejections of opened/closed are never unhandled', async () => {
  const port = await refusedPort()
  const unhandled: unknown[] = []
  const onUnhandled = (r: unknown) => unhandled.push(r)
  process.on('unhandledRejection', onUnhandled)
  try {
    const s = connect(`127.0.0.1:${port}`)
    await new Promise((r) => setTimeout(r, 100))
    void s
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
  assert.deepEqual(unhandled, [])
})

test('close() flushes queued writes, then the server sees FIN; repeated close() resolves', async (t) => {
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  const s = connect(server.address)
  const writer = s.writable.getWriter()
  void writer.write('queued before open')
  const p1 = s.close()
  const p2 = s.close()
  assert.notEqual(p1, p2)
  assert.notEqual(p1, s.closed)
  assert.deepEqual(await Promise.all([p1, p2, s.closed]), [undefined, undefined, undefined])
  await waitFor(() => server.events.includes('end'), 2000, 'server end')
  assert.equal(Buffer.concat(server.received).toString(), 'queued before open')
  // opened still resolves after an early close()
  assert.equal((await s.opened).remoteAddress, server.address)
})

test('close() with a read pending: closed and close() settle first, the read rejects after', async (t) => {
  // Measured on workerd 1.20261117.1: "closed resolved", "close() resolved", then
  // "read rejected This socket has been closed.".
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  const s = connect(server.address)
  await s.opened
  const order: string[] = []
  void s.closed.then(() => order.push('closed'))
  const read = s.readable
    .getReader()
    .read()
    .then(
      () => order.push('read resolved'),
      (error: Error) => order.push(`read rejected: ${error.message}`)
    )
  await new Promise((r) => setTimeout(r, 20))
  const closing = s.close().then(() => order.push('close()'))
  await Promise.all([read, closing])
  assert.deepEqual(order, ['closed', 'close()', `read rejected: ${msg.SOCKET_CLOSED}`])
})

test('reads and writes after close() reject with workerd messages', async (t) => {
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  const s = connect(server.address)
  await s.opened
  const reader = s.readable.getReader()
  const writer = s.writable.getWriter()
  const pending = assert.rejects(reader.read(), { name: 'TypeError', message: msg.SOCKET_CLOSED })
  const closing = s.close()
  // Right after close(): both streams are "pending closure".
  const readWhileClosing = reader.read()
  const writeWhileClosing = writer.write('x')
  await assert.rejects(readWhileClosing, { name: 'TypeError', message: msg.READABLE_CLOSING })
  await assert.rejects(writeWhileClosing, { name: 'TypeError', message: msg.WRITABLE_CLOSING })
  await closing
  await pending
  await assert.rejects(writer.closed, { name: 'TypeError', message: msg.SOCKET_CLOSED })
  await reader.closed
  await assert.rejects(reader.read(), { message: msg.READABLE_CLOSING })
  await assert.rejects(writer.write('x'), { name: 'TypeError', message: msg.WRITABLE_CLOSED })
})

test('a second concurrent read is refused (single pending read)', async (t) => {
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  const s = connect(server.address)
  const reader = s.readable.getReader()
  const first = assert.rejects(reader.read(), { message: msg.SOCKET_CLOSED })
  await assert.rejects(reader.read(), { name: 'TypeError', message: msg.SINGLE_PENDING_READ })
  await s.close()
  await first
})

test('closed stays pending while the app has not read the peer EOF', async (t) => {
  const server = await tcpServer((sock) => {
    sock.end('hello')
  })
  t.after(() => server.close())
  const s = connect(server.address)
  await s.opened
  assert.equal((await settleWithin(s.closed, 300)).state, 'pending')
  const reader = s.readable.getReader()
  const chunks: string[] = []
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(Buffer.from(value).toString())
  }
  assert.equal(chunks.join(''), 'hello')
  await s.closed
})

test('connectTimeoutMs fails a connect that never completes like a network error', async (t) => {
  // A server that never accepts: fill its backlog so the SYN is not answered... loopback accepts
  // instantly, so instead time out on admission-free DNS-free target that blackholes: a TLS
  // server that never answers the handshake.
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  // The timer starts inside connect() (which may build a TLS context first): time from before.
  const started = Date.now()
  const s = connect(server.address, { secureTransport: 'on', connectTimeoutMs: 150 })
  await assert.rejects(s.opened, { message: msg.CONNECT_FAILED })
  const elapsed = Date.now() - started
  assert.ok(elapsed >= 140 && elapsed < 2000, `timed out after ${elapsed} ms`)
})

test('writes before opened are delivered in order', async (t) => {
  const server = await echoServer()
  t.after(() => server.close())
  const s = connect(server.address)
  const writer = s.writable.getWriter()
  const writes = [
    writer.write('a'),
    writer.write(new TextEncoder().encode('b')),
    writer.write(new Uint8Array([99]).buffer),
  ]
  await Promise.all(writes)
  await waitFor(() => Buffer.concat(server.received).length === 3)
  assert.equal(Buffer.concat(server.received).toString(), 'abc')
  await s.close()
})

test('close() with bytes Node still buffers for a peer that never reads: destroyed after the flush bound', async (t) => {
  const server = await tcpServer((s) => s.pause(), false)
  t.after(() => server.close())
  let node: net.Socket | undefined
  // An in-process dial, only to see the Node socket's buffer.
  setSocketRuntime({
    admit: () => ({
      dial: (target) =>
        new Promise((resolve, reject) => {
          const s = net.connect({ host: target.hostname, port: target.port })
          s.once('connect', () => resolve((node = s)))
          s.once('error', reject)
        }),
    }),
  })
  t.after(() => setSocketRuntime(undefined))
  const socket = connect(`127.0.0.1:${server.port}`)
  await socket.opened
  assert.ok(node)
  const writer = socket.writable.getWriter()
  const chunk = new Uint8Array(1024)
  // Fill the kernel's buffers until Node itself holds bytes: every write has settled (they stay
  // under Node's 16 KiB mark), so only end() is left waiting. Bounded at 256 MiB.
  for (let i = 0; i < 262_144 && node.writableLength === 0; i++) await writer.write(chunk)
  assert.ok(node.writableLength > 0 && node.writableLength < 16384, `${node.writableLength}`)
  writer.releaseLock()
  const t0 = performance.now()
  const closed = await settleWithin(socket.close(), 10_000)
  const ms = performance.now() - t0
  assert.equal(closed.state, 'fulfilled')
  assert.ok(ms >= 4500 && ms < 8000, `close() took ${Math.round(ms)} ms`)
  assert.equal(node.destroyed, true)
})
