// The scenarios written once against the `cloudflare:sockets` API. The same file drives
// @wharf/sockets and @arrowood.dev/socket in Node and is loaded as a module by the Worker in
// workerd, so every peer runs exactly the same JavaScript. Plain JS (no TypeScript) so workerd
// can load it as it is.
//
// `connect` is the peer's connect(); `opened(socket)` settles once the connection is up (peers
// without `socket.opened` supply their own); `now()` is a millisecond clock.

/** An 8-byte request header the load servers read first: two big-endian u32 values. */
export function header(a, b) {
  const bytes = new Uint8Array(8)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, a)
  view.setUint32(4, b)
  return bytes
}

async function readAtLeast(reader, n) {
  let got = 0
  while (got < n) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`EOF after ${got} of ${n} bytes`)
    got += value.byteLength
  }
  return got
}

export function cfScenarios({ connect, opened, now }) {
  const address = (port) => `127.0.0.1:${port}`
  const options = (tls) => (tls ? { secureTransport: 'on' } : undefined)

  async function open(port, tls) {
    const socket = connect(address(port), options(tls))
    await opened(socket)
    return socket
  }

  return {
    /** The server sends `bytes` in `chunk`-byte writes; we time header → last byte. */
    async recv({ port, chunk, bytes, tls }) {
      const socket = await open(port, tls)
      const writer = socket.writable.getWriter()
      const reader = socket.readable.getReader()
      const t0 = now()
      await writer.write(header(chunk, bytes / 1024))
      await readAtLeast(reader, bytes)
      const ms = now() - t0
      writer.releaseLock()
      reader.releaseLock()
      await socket.close()
      return { ms, bytes }
    },

    /** We write `bytes` in `chunk`-byte writes, each awaited; the server acks the last byte. */
    async send({ port, chunk, bytes, tls }) {
      const socket = await open(port, tls)
      const writer = socket.writable.getWriter()
      const reader = socket.readable.getReader()
      const data = new Uint8Array(chunk).fill(120)
      const t0 = now()
      await writer.write(header(bytes / 1024, 0))
      for (let sent = 0; sent < bytes; sent += chunk) await writer.write(data)
      await readAtLeast(reader, 1)
      const ms = now() - t0
      writer.releaseLock()
      reader.releaseLock()
      await socket.close()
      return { ms, bytes }
    },

    /** `count` sequential 16-byte echo round trips on one connection. */
    async roundtrip({ port, count }) {
      const socket = await open(port, false)
      const writer = socket.writable.getWriter()
      const reader = socket.readable.getReader()
      const data = new Uint8Array(16).fill(97)
      const t0 = now()
      for (let i = 0; i < count; i++) {
        await writer.write(data)
        await readAtLeast(reader, 16)
      }
      const ms = now() - t0
      writer.releaseLock()
      reader.releaseLock()
      await socket.close()
      return { ms, ops: count }
    },

    /** `count` connections, `concurrency` at a time: connect → opened → close() (graceful). */
    async setup({ port, count, concurrency, tls }) {
      let started = 0
      const lane = async () => {
        while (started < count) {
          started++
          const socket = await open(port, tls)
          await socket.close()
        }
      }
      const t0 = now()
      await Promise.all(Array.from({ length: concurrency }, lane))
      return { ms: now() - t0, ops: count }
    },

    /**
     * The per-request pattern of a Worker, `count` times, `concurrency` at a time: connect(),
     * write 16 bytes, read the 16-byte answer, close(). No wait for `opened`: Worker code does not.
     */
    async lifecycle({ port, count, concurrency }) {
      const data = new Uint8Array(16).fill(98)
      let started = 0
      const lane = async () => {
        while (started < count) {
          started++
          const socket = connect(address(port))
          const writer = socket.writable.getWriter()
          const reader = socket.readable.getReader()
          await writer.write(data)
          await readAtLeast(reader, 16)
          writer.releaseLock()
          reader.releaseLock()
          await socket.close()
        }
      }
      const t0 = now()
      await Promise.all(Array.from({ length: concurrency }, lane))
      return { ms: now() - t0, ops: count }
    },

    /**
     * Opens `count` sockets (50 at a time) and leaves each idle the way a driver does: opened,
     * with a read pending. Returns a function that closes them all.
     */
    async hold({ port, count }) {
      const sockets = []
      const pending = []
      for (let i = 0; i < count; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(50, count - i) }, () => open(port, false))
        )
        for (const socket of batch) {
          sockets.push(socket)
          const reader = socket.readable.getReader()
          pending.push(reader.read().catch(() => undefined))
        }
      }
      return async () => {
        await Promise.all(sockets.map((s) => s.close().catch(() => undefined)))
        await Promise.all(pending)
      }
    },
  }
}
