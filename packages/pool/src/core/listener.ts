/**
 * The pooler's client listener, for either front end. It is bound before any origin or Redis
 * connection exists: a busy or bad address fails at once, and none of the pooler's own outgoing
 * connections can be holding the port (an ephemeral source port equal to a fixed listen port gave
 * EADDRINUSE on a free port). Clients that connect before start-up finished wait, paused, until
 * `serve()` is called.
 */
import net from 'node:net'
import { PoolConfigError } from '../errors.js'

const MAX_WAITING = 1000
const MAX_CONNECTIONS = 10_000

export interface ClientListener {
  readonly server: net.Server
  /** Starts a session for each client that waited, then for every new one. */
  serve(start: (socket: net.Socket) => void): void
  /** Drops the clients still waiting (start-up failed). */
  dropWaiting(): void
}

export async function listenFirst(
  listen: { readonly host: string; readonly port: number },
  label: string
): Promise<ClientListener> {
  const server = net.createServer({ noDelay: true })
  const clients = adoptListener(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new PoolConfigError(`cannot listen on ${label}: ${error.message}`, { cause: error }))
    )
    server.listen(listen.port, listen.host, () => resolve())
  })
  return clients
}

/** The same for a server already listening (`--processes`: the primary's, handed over). */
export function adoptListener(server: net.Server): ClientListener {
  let start: ((socket: net.Socket) => void) | undefined
  const waiting = new Set<net.Socket>()
  server.on('connection', (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => undefined)
    if (start) {
      start(socket)
      return
    }
    if (waiting.size >= MAX_WAITING) {
      socket.destroy()
      return
    }
    socket.pause()
    waiting.add(socket)
    socket.once('close', () => waiting.delete(socket))
  })
  server.maxConnections = MAX_CONNECTIONS
  return {
    server,
    serve(session) {
      start = session
      for (const socket of waiting) {
        waiting.delete(socket)
        if (socket.destroyed) continue
        session(socket)
        socket.resume()
      }
    },
    dropWaiting() {
      for (const socket of waiting) socket.destroy()
      waiting.clear()
    },
  }
}
