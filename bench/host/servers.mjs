// Child-process servers for the host benchmark: `echo` (TCP echo) and `plain` (the same handler
// as the Worker, as a plain node:http server using node:net). Prints the port on stdout.
import http from 'node:http'
import net from 'node:net'

const [kind, echoPort] = process.argv.slice(2)

if (kind === 'echo') {
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('error', () => undefined)
  })
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
} else if (kind === 'plain') {
  const ping = Buffer.from('ping')
  const server = http.createServer((req, res) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(echoPort), noDelay: true })
    let got = 0
    socket.on('connect', () => socket.write(ping))
    socket.on('data', (chunk) => {
      got += chunk.byteLength
      if (got >= ping.byteLength) {
        socket.end()
        res.end('pong')
      }
    })
    socket.on('error', () => {
      res.statusCode = 502
      res.end()
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
} else if (kind === 'plain-cluster') {
  // The plain handler on N processes sharing one port (node:cluster), for wharf serve's
  // same-process-count comparison. The primary prints the port once every worker listens.
  const { default: cluster } = await import('node:cluster')
  const count = Number(process.argv[4] ?? '2')
  if (cluster.isPrimary) {
    const port = await new Promise((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = probe.address().port
        probe.close(() => resolve(p))
      })
    })
    let listening = 0
    for (let i = 0; i < count; i++) cluster.fork({ PLAIN_PORT: String(port) })
    cluster.on('listening', () => {
      if (++listening === count) console.log(port)
    })
    process.on('SIGTERM', () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill()
      process.exit(0)
    })
  } else {
    const ping = Buffer.from('ping')
    const server = http.createServer((req, res) => {
      const socket = net.connect({ host: '127.0.0.1', port: Number(echoPort), noDelay: true })
      let got = 0
      socket.on('connect', () => socket.write(ping))
      socket.on('data', (chunk) => {
        got += chunk.byteLength
        if (got >= ping.byteLength) {
          socket.end()
          res.end('pong')
        }
      })
      socket.on('error', () => {
        res.statusCode = 502
        res.end()
      })
    })
    server.keepAliveTimeout = 60_000
    server.listen(Number(process.env.PLAIN_PORT), '127.0.0.1')
  }
} else if (kind === 'plain-sockets') {
  // The same handler on @wharf/sockets' connect() without the host: separates the library's
  // cost from the host's.
  const { connect } = await import('@wharf/sockets')
  const ping = new TextEncoder().encode('ping')
  const server = http.createServer(async (req, res) => {
    try {
      const socket = connect(`127.0.0.1:${echoPort}`)
      const writer = socket.writable.getWriter()
      await writer.write(ping)
      const reader = socket.readable.getReader()
      let got = 0
      while (got < ping.byteLength) {
        const { value, done } = await reader.read()
        if (done) break
        got += value.byteLength
      }
      await socket.close()
      res.end('pong')
    } catch {
      res.statusCode = 502
      res.end()
    }
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => console.log(server.address().port))
} else {
  console.error(
    'usage: servers.mjs echo | plain ECHO_PORT | plain-cluster ECHO_PORT N | plain-sockets ECHO_PORT'
  )
  process.exit(1)
}
