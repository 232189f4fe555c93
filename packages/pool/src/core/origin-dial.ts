/**
 * How the pooler reaches its origin when that is not a TCP connection to the upstream URL's host
 * and port: a host that embeds the pooler can hand it a dialer, for example one that opens a flow
 * through a tunnel to a database in a private network. The URL still gives the user, password,
 * database and TLS settings.
 */
import net from 'node:net'

/** Resolves with a connected socket to the origin; rejects once `signal` aborts. */
export type OriginDial = (signal: AbortSignal) => Promise<net.Socket>

/** A connected socket to the origin: through `dial` when given, else TCP to `host:port`. */
export function connectOrigin(
  host: string,
  port: number,
  signal: AbortSignal,
  dial: OriginDial | undefined
): Promise<net.Socket> {
  if (dial !== undefined) return dial(signal)
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true })
    const onAbort = (): void => {
      socket.destroy()
      reject(signal.reason as Error)
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort)
      resolve(socket)
    })
    socket.once('error', (error) => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      reject(error)
    })
  })
}
