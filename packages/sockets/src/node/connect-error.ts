/**
 * workerd's `node:net` reports a failed connect the way Node does (`connect ECONNREFUSED
 * 127.0.0.1:5432`, with `code`, `errno`, `syscall`, `address`, `port`), while `connect()` only
 * shows its generic message. The real cause is published on the `wharf:sockets:error` channel;
 * this keeps the latest one per socket so the Node-style error can be rebuilt from it.
 *
 * @module
 */
import { unbracketHost } from '../address.js'
import { errorChannel } from '../diagnostics.js'

const causes = new WeakMap<object, unknown>()

errorChannel.subscribe((message) => {
  const { socket, error, phase } = message as { socket?: unknown; error?: unknown; phase?: unknown }
  // A failed StartTLS handshake (even one the peer reset) reaches workerd's node:tls as
  // startTls()'s own error (`internal error; reference = …`), not as a Node system error.
  if (phase === 'startTls') return
  if (typeof socket === 'object' && socket !== null) causes.set(socket, error)
})

interface SystemError {
  code?: unknown
  errno?: unknown
  syscall?: unknown
}

/** The Node-style error for a failed connection, or `error` itself when the cause is not a
 * system error (an egress denial, a TLS failure, a runtime's own message). */
export function nodeConnectError(
  socket: object,
  error: unknown,
  host: string,
  port: number
): Error {
  const cause = causes.get(socket) as SystemError | undefined
  const fallback = error instanceof Error ? error : new Error(String(error))
  if (cause === undefined || typeof cause.code !== 'string' || typeof cause.syscall !== 'string')
    return fallback
  const code = cause.code
  const errno = typeof cause.errno === 'number' ? cause.errno : undefined
  const address = unbracketHost(host)
  if (cause.syscall === 'getaddrinfo') {
    return Object.assign(new Error(`getaddrinfo ${code} ${address}`), {
      code,
      errno,
      hostname: address,
      syscall: 'getaddrinfo',
    })
  }
  return Object.assign(new Error(`connect ${code} ${address}:${port}`), {
    address,
    code,
    errno,
    port,
    syscall: 'connect',
  })
}

/** The Node-style error for a connection that broke (`read ECONNRESET`), else `error` itself. */
export function nodeIoError(socket: object, error: unknown): Error {
  const cause = causes.get(socket) as SystemError | undefined
  const fallback = error instanceof Error ? error : new Error(String(error))
  if (cause === undefined || typeof cause.code !== 'string' || typeof cause.syscall !== 'string')
    return fallback
  return Object.assign(new Error(`${cause.syscall} ${cause.code}`), {
    code: cause.code,
    errno: typeof cause.errno === 'number' ? cause.errno : undefined,
    syscall: cause.syscall,
  })
}
