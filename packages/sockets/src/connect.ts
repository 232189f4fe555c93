import { parseConnectArguments, type NodeSocketOptions } from './address.js'
import { getSocketRuntime } from './runtime.js'
import { createSocket, type Socket } from './socket.js'

/** A socket address in object form. IPv6 hostnames must be bracketed, as in workerd. */
export interface SocketAddress {
  hostname: string
  port: number
}

/** Options of `connect()`: workerd's, plus Node-only extras (see docs/api.md). */
export interface SocketOptions extends NodeSocketOptions {
  /** `'off'` (default), `'on'` (TLS from the start) or `'starttls'` (upgrade later). */
  secureTransport?: 'off' | 'on' | 'starttls' | (string & {})
  /** Keep the write side open after the peer's EOF. Default `false`. */
  allowHalfOpen?: boolean
  /** High-water mark, in bytes, of the writable side. Default 1 (workerd's). */
  highWaterMark?: number | bigint
  /** Node-only: extra trusted CA certificates (PEM) for TLS, added to Node's bundled roots. */
  ca?: string | readonly string[]
  /** Node-only: fail the connection (like a network error) if not open within this many ms. */
  connectTimeoutMs?: number
}

/**
 * Opens a TCP connection, exactly as `connect()` from `cloudflare:sockets` does in workerd.
 * Bad arguments throw a `TypeError` synchronously; network failures reject `opened`/`closed`.
 *
 * @example
 * ```ts
 * import { connect } from '@wharf/sockets'
 *
 * const socket = connect({ hostname: 'localhost', port: 6379 })
 * const writer = socket.writable.getWriter()
 * await writer.write('PING\r\n')
 * const reader = socket.readable.getReader()
 * const { value } = await reader.read()
 * console.log(new TextDecoder().decode(value)) // +PONG
 * await socket.close()
 * ```
 */
export function connect(address: string | SocketAddress, options?: SocketOptions): Socket {
  const parsed = parseConnectArguments(arguments.length, address, options)
  const runtime = getSocketRuntime()
  return createSocket(parsed, (socket) =>
    runtime
      ? runtime.admit(
          {
            address: parsed.addressString,
            hostname: parsed.target?.host ?? parsed.domain,
            port: parsed.target?.port ?? 0,
            secureTransport: parsed.secureTransport,
          },
          socket
        )
      : {}
  )
}
