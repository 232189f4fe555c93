// The same scenarios as cf-scenarios.js on raw node:net / node:tls: the limit the socket
// libraries are measured against. Idiomatic Node (events, write() back-pressure), no streams API.
import { once } from 'node:events'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import tls from 'node:tls'
import { header } from './cf-scenarios.js'

async function open(port, secure) {
  // The CA comes from NODE_EXTRA_CA_CERTS, as for every Node peer (see run.mjs).
  const socket = secure
    ? tls.connect({ host: '127.0.0.1', port })
    : net.connect({ host: '127.0.0.1', port })
  socket.setNoDelay(true)
  await once(socket, secure ? 'secureConnect' : 'connect')
  return socket
}

/** Graceful close as @wharf/sockets' close() does it: FIN written, then destroy (no wait for the
 * server's FIN). */
async function close(socket) {
  await new Promise((resolve) => socket.end(resolve))
  socket.destroy()
}

/** Resolves once `n` bytes have arrived (counted from now). */
function receive(socket, n) {
  return new Promise((resolve, reject) => {
    let got = 0
    const onData = (chunk) => {
      got += chunk.byteLength
      if (got >= n) {
        socket.off('data', onData)
        socket.off('error', reject)
        resolve(got)
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
  })
}

const now = () => performance.now()

export const nodeScenarios = {
  async recv({ port, chunk, bytes, tls: secure }) {
    const socket = await open(port, secure)
    const t0 = now()
    const done = receive(socket, bytes)
    socket.write(header(chunk, bytes / 1024))
    await done
    const ms = now() - t0
    await close(socket)
    return { ms, bytes }
  },

  async send({ port, chunk, bytes, tls: secure }) {
    const socket = await open(port, secure)
    const data = Buffer.alloc(chunk, 120)
    const t0 = now()
    const ack = receive(socket, 1)
    socket.write(header(bytes / 1024, 0))
    for (let sent = 0; sent < bytes; sent += chunk) {
      if (!socket.write(data)) await once(socket, 'drain')
    }
    await ack
    const ms = now() - t0
    await close(socket)
    return { ms, bytes }
  },

  async roundtrip({ port, count }) {
    const socket = await open(port, false)
    const data = Buffer.alloc(16, 97)
    const t0 = now()
    for (let i = 0; i < count; i++) {
      const got = receive(socket, 16)
      socket.write(data)
      await got
    }
    const ms = now() - t0
    await close(socket)
    return { ms, ops: count }
  },

  async setup({ port, count, concurrency, tls: secure }) {
    let started = 0
    const lane = async () => {
      while (started < count) {
        started++
        await close(await open(port, secure))
      }
    }
    const t0 = now()
    await Promise.all(Array.from({ length: concurrency }, lane))
    return { ms: now() - t0, ops: count }
  },

  /** connect, write 16 bytes as soon as connected, read the answer, close: per request. */
  async lifecycle({ port, count, concurrency }) {
    const data = Buffer.alloc(16, 98)
    let started = 0
    const lane = async () => {
      while (started < count) {
        started++
        const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
        const got = receive(socket, 16)
        socket.write(data) // queued until connected, like a Worker's first write
        await got
        await close(socket)
      }
    }
    const t0 = now()
    await Promise.all(Array.from({ length: concurrency }, lane))
    return { ms: now() - t0, ops: count }
  },

  /** Idle like a driver's connection: connected and flowing, a 'data' listener attached. */
  async hold({ port, count }) {
    const sockets = []
    for (let i = 0; i < count; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, () => open(port, false))
      )
      for (const socket of batch) {
        socket.on('data', () => undefined)
        sockets.push(socket)
      }
    }
    return async () => {
      await Promise.all(sockets.map((s) => close(s)))
    }
  },
}
