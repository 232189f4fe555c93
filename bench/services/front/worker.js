// The bench Worker: round trips and bulk throughput over one socket: through a service binding to
// an echo Worker (env.ECHO_WORKER), with connect() to the same echo Worker's inbound TCP port
// (env.ECHO_TCP), or with connect() to a plain Node TCP echo server (env.ECHO_ADDR).
import { connect } from 'cloudflare:sockets'

function open(env, mode) {
  if (mode === 'service') return env.ECHO_WORKER.connect('echo.internal:7')
  return connect(mode === 'tcp' ? env.ECHO_TCP : env.ECHO_ADDR)
}

/** `n` sequential 64-byte request/response round trips on one socket. */
async function roundTrips(socket, n) {
  const writer = socket.writable.getWriter()
  const reader = socket.readable.getReader()
  const message = new Uint8Array(64).fill(97)
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    await writer.write(message)
    let got = 0
    while (got < message.length) {
      const { done, value } = await reader.read()
      if (done) throw new Error('echo closed early')
      got += value.byteLength
    }
  }
  return { ops: n, ms: performance.now() - started }
}

/** Writes `bytes` in 64 KiB chunks while reading the echo back: both directions at once. */
async function bulk(socket, bytes) {
  const writer = socket.writable.getWriter()
  const reader = socket.readable.getReader()
  const chunk = new Uint8Array(65536).fill(98)
  const started = performance.now()
  const writing = (async () => {
    for (let sent = 0; sent < bytes; sent += chunk.length) await writer.write(chunk)
  })()
  let got = 0
  while (got < bytes) {
    const { done, value } = await reader.read()
    if (done) throw new Error('echo closed early')
    got += value.byteLength
  }
  await writing
  return { bytes: got, ms: performance.now() - started }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const mode = url.searchParams.get('mode') ?? 'direct'
    const socket = open(env, mode)
    await socket.opened
    try {
      const result =
        url.pathname === '/bulk'
          ? await bulk(socket, Number(url.searchParams.get('mb') ?? '16') * 1048576)
          : await roundTrips(socket, Number(url.searchParams.get('n') ?? '2000'))
      return Response.json(result)
    } finally {
      await socket.close()
    }
  },
}
