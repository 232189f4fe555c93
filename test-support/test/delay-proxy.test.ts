import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { startDelayProxy } from '../delay-proxy.js'
import { echoServer, refusedPort, tcpServer, waitFor } from '../servers.js'

// Lower bounds are exact (a delay cannot be shorter than asked, up to setTimeout's 0.5 ms of slack
// and 1 ms rounding); upper bounds are loose because the machine is shared.
const DELAY = 40

function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true })
  return once(s, 'connect').then(() => s)
}

function readN(socket: net.Socket, n: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let got = 0
    const timer = setTimeout(() => reject(new Error(`only ${got} of ${n} bytes`)), timeoutMs)
    const onData = (chunk: Buffer): void => {
      parts.push(chunk)
      got += chunk.byteLength
      if (got >= n) {
        clearTimeout(timer)
        socket.off('data', onData)
        resolve(Buffer.concat(parts))
      }
    }
    socket.on('data', onData)
  })
}

test('a new connection costs two round trips to the first answer, then one per exchange', async () => {
  const echo = await echoServer()
  const proxy = await startDelayProxy({ upstreamPort: echo.port, delayMs: DELAY })
  try {
    const t0 = performance.now()
    const socket = await connect(proxy.port)
    socket.write('ping')
    assert.equal((await readN(socket, 4)).toString(), 'ping')
    const first = performance.now() - t0
    // SYN + SYN-ACK (one round trip), then the bytes there and back (another).
    assert.ok(first >= 4 * DELAY - 2, `first answer after ${first} ms`)
    assert.ok(first < 4 * DELAY + 3000, `first answer after ${first} ms`)
    const t1 = performance.now()
    socket.write('pong')
    assert.equal((await readN(socket, 4)).toString(), 'pong')
    const second = performance.now() - t1
    assert.ok(second >= 2 * DELAY - 2, `second answer after ${second} ms`)
    assert.ok(second < 2 * DELAY + 3000, `second answer after ${second} ms`)
    socket.destroy()
  } finally {
    await proxy.close()
    await echo.close()
  }
})

test('bytes arrive intact and in order, both ways', async () => {
  const echo = await echoServer()
  const proxy = await startDelayProxy({ upstreamPort: echo.port, delayMs: 5 })
  try {
    const socket = await connect(proxy.port)
    const data = randomBytes(4 * 1024 * 1024)
    const got = readN(socket, data.byteLength, 30_000)
    for (let i = 0; i < data.byteLength; i += 10_000) socket.write(data.subarray(i, i + 10_000))
    const back = await got
    assert.equal(back.byteLength, data.byteLength)
    assert.equal(
      createHash('sha256').update(back).digest('hex'),
      createHash('sha256').update(data).digest('hex')
    )
    socket.destroy()
  } finally {
    await proxy.close()
    await echo.close()
  }
})

test('a receiver that does not read pauses the sender: the queue stays bounded', async () => {
  const maxQueuedBytes = 64 * 1024
  let received = 0
  const sink = await tcpServer((s) => {
    s.pause() // reads nothing at first: the kernel buffers fill, then the proxy's queue
    setTimeout(() => {
      s.on('data', (d: Buffer) => (received += d.byteLength))
      s.resume()
    }, 500)
  }, false)
  const proxy = await startDelayProxy({ upstreamPort: sink.port, delayMs: 2, maxQueuedBytes })
  try {
    const socket = await connect(proxy.port)
    const total = 32 * 1024 * 1024
    const chunk = Buffer.alloc(64 * 1024, 7)
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (!socket.write(chunk)) await once(socket, 'drain')
    }
    await waitFor(() => received >= total, 30_000, 'every byte at the sink')
    assert.ok(proxy.stats.pauses > 0, 'the sender was never paused')
    // One read (at most 64 KiB) may land on a full queue before the pause takes effect.
    assert.ok(
      proxy.stats.maxQueued <= maxQueuedBytes + 65_536,
      `queued up to ${proxy.stats.maxQueued} bytes`
    )
    socket.destroy()
  } finally {
    await proxy.close()
    await sink.close()
  }
})

test("the upstream's last bytes and FIN arrive late, then the connection is gone", async () => {
  const server = await tcpServer((s) => s.end('bye'))
  const proxy = await startDelayProxy({ upstreamPort: server.port, delayMs: DELAY })
  try {
    const t0 = performance.now()
    const socket = await connect(proxy.port)
    const text = readN(socket, 3)
    const ended = once(socket, 'end')
    assert.equal((await text).toString(), 'bye')
    await ended
    assert.ok(performance.now() - t0 >= 2 * DELAY - 2)
    socket.end()
    await waitFor(() => proxy.stats.open === 0, 5000, 'the proxy to drop the connection')
    assert.equal(proxy.stats.accepted, 1)
  } finally {
    await proxy.close()
    await server.close()
  }
})

test("a client's FIN reaches the upstream; once both ends close, so does the proxy", async () => {
  const server = await tcpServer((s) => s.on('end', () => s.end()))
  const proxy = await startDelayProxy({ upstreamPort: server.port, delayMs: 5 })
  try {
    const socket = await connect(proxy.port)
    await waitFor(() => server.connections === 1, 5000, 'the upstream connection')
    socket.destroy()
    await waitFor(() => server.events.includes('end'), 5000, 'the FIN at the upstream')
    await waitFor(() => server.events.includes('close'), 5000, 'the upstream to close')
    await waitFor(() => proxy.stats.open === 0, 5000, 'the proxy to drop the connection')
  } finally {
    await proxy.close()
    await server.close()
  }
})

test('an unreachable upstream closes the client connection', async () => {
  const proxy = await startDelayProxy({ upstreamPort: await refusedPort(), delayMs: 5 })
  try {
    const socket = await connect(proxy.port)
    socket.on('error', () => undefined)
    const closed = once(socket, 'close')
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error('client still open')), 5000)
    )
    await Promise.race([closed, timeout])
    await waitFor(() => proxy.stats.open === 0, 5000, 'the proxy to drop the connection')
  } finally {
    await proxy.close()
  }
})

test('close() destroys open connections and stops listening', async () => {
  const echo = await echoServer()
  const proxy = await startDelayProxy({ upstreamPort: echo.port, delayMs: 5 })
  const socket = await connect(proxy.port)
  socket.on('error', () => undefined)
  const closed = once(socket, 'close')
  await waitFor(() => proxy.stats.open === 1, 5000, 'the connection')
  await proxy.close()
  await closed
  await assert.rejects(connect(proxy.port))
  await echo.close()
})

test('options out of range are refused', async () => {
  await assert.rejects(startDelayProxy({ upstreamPort: 1, delayMs: -1 }), RangeError)
  await assert.rejects(startDelayProxy({ upstreamPort: 1, delayMs: 20_000 }), RangeError)
  await assert.rejects(startDelayProxy({ upstreamPort: 1, maxQueuedBytes: 10 }), RangeError)
  await assert.rejects(startDelayProxy({ upstreamPort: 0 }), RangeError)
})
