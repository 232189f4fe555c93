// The load servers, in their own process so they never share an event loop with a client.
// `node servers.mjs <cert.pem> <key.pem>` prints one JSON line of ports, then serves until killed.
//   echo    echoes everything (round trips, connection setup, idle sockets)
//   source  reads an 8-byte header [chunk u32, KiB u32], writes that many bytes in `chunk`-byte
//           writes (honouring back-pressure), then ends
//   sink    reads an 8-byte header [KiB u32, 0], counts that many bytes, answers one byte 'k'
// Each has a TLS twin (tlsEcho, tlsSource, tlsSink). Every socket ends when its peer does.
// `stats` answers with the TLS handshake counters as JSON and closes.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

const [certPath, keyPath] = process.argv.slice(2)
const MAX_BYTES = 4 * 1024 * 1024 * 1024 // bound what one header may ask for

function withHeader(socket, onHeader) {
  let head = Buffer.alloc(0)
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk])
    if (head.byteLength < 8) return
    socket.off('data', onData)
    const a = head.readUInt32BE(0)
    const b = head.readUInt32BE(4)
    onHeader(a, b, head.subarray(8))
  }
  socket.on('data', onData)
}

function common(socket) {
  socket.setNoDelay?.(true)
  socket.on('error', () => undefined)
  socket.on('end', () => socket.end())
}

const handlers = {
  echo(socket) {
    common(socket)
    socket.on('data', (chunk) => socket.write(chunk))
  },
  source(socket) {
    common(socket)
    withHeader(socket, (chunk, kib) => {
      const size = Math.min(Math.max(chunk, 1), 1024 * 1024)
      const total = Math.min(kib * 1024, MAX_BYTES)
      const data = Buffer.alloc(size, 120)
      let sent = 0
      const pump = () => {
        while (sent < total) {
          const n = Math.min(size, total - sent)
          sent += n
          if (!socket.write(n === size ? data : data.subarray(0, n))) {
            socket.once('drain', pump)
            return
          }
        }
        socket.end()
      }
      socket.resume()
      pump()
    })
  },
  sink(socket) {
    common(socket)
    withHeader(socket, (kib, _unused, rest) => {
      const total = Math.min(kib * 1024, MAX_BYTES)
      let got = rest.byteLength
      let acked = false
      const check = () => {
        if (!acked && got >= total) {
          acked = true
          socket.write('k')
        }
      }
      socket.on('data', (chunk) => {
        got += chunk.byteLength
        check()
      })
      check()
    })
  },
}

const tlsOptions = { cert: readFileSync(certPath), key: readFileSync(keyPath) }
// TLS handshakes seen, and how many resumed a session: peers may differ here (a resumed
// handshake is far cheaper), so the report shows it next to the TLS setup figures.
const stats = { handshakes: 0, resumed: 0 }
const ports = {}
const statsServer = net.createServer((socket) => {
  socket.on('error', () => undefined)
  socket.end(JSON.stringify(stats))
})
await new Promise((resolve) => statsServer.listen(0, '127.0.0.1', resolve))
ports.stats = statsServer.address().port
for (const [name, handler] of Object.entries(handlers)) {
  const plain = net.createServer(handler)
  const secure = tls.createServer(tlsOptions, handler)
  for (const [key, server] of [
    [name, plain],
    [`tls${name[0].toUpperCase()}${name.slice(1)}`, secure],
  ]) {
    server.maxConnections = 10_000
    server.on('secureConnection', (socket) => {
      stats.handshakes++
      if (socket.isSessionReused()) stats.resumed++
      stats.last =
        `${socket.getProtocol()} ${socket.getCipher()?.name} ${socket.getEphemeralKeyInfo()?.name ?? ''}`.trim()
    })
    await new Promise((resolve) =>
      server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve)
    )
    ports[key] = server.address().port
  }
}
console.log(JSON.stringify(ports))
process.on('SIGTERM', () => process.exit(0))
