/**
 * A tiny loopback TCP echo service the host can run for examples (`wharf.example_services`), so
 * `wharf dev examples/hello-sockets` shows sockets working with nothing else installed. It is an
 * example, not a product: it echoes bytes back, bounded in connections, bytes and time.
 */
import net from 'node:net'

const MAX_CONNECTIONS = 256
const MAX_BYTES = 1 << 20
const IDLE_MS = 30_000

export interface ExampleServer {
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

export async function startEchoService(): Promise<ExampleServer> {
  const server = net.createServer({ allowHalfOpen: false }, (socket) => {
    let seen = 0
    socket.setTimeout(IDLE_MS, () => socket.destroy())
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.byteLength
      if (seen > MAX_BYTES) socket.destroy()
      else socket.write(chunk)
    })
    socket.on('error', () => undefined)
  })
  server.maxConnections = MAX_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address() as net.AddressInfo
  return {
    host: '127.0.0.1',
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.unref()
      }),
  }
}
