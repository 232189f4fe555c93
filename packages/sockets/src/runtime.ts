/**
 * The seam between `connect()` and whoever hosts it (the `wharf` host, or an application).
 *
 * A plain Node program needs none of this: without a runtime, `connect()` reaches any address,
 * like `net.connect`. The host installs a runtime to scope sockets to requests, apply limits and
 * enforce the egress policy.
 *
 * @module
 */
import type { Socket as NodeSocket } from 'node:net'
import type { EgressPolicy } from './egress/types.js'

export { unbracketHost } from './address.js'
export { skipTransferableCopy } from './untransferable.js'

export {
  EgressDeniedError,
  SocketAddressError,
  SocketClosedBeforeOpenError,
  SocketConnectTimeoutError,
  SocketUpgradeError,
  WharfSocketsError,
} from './errors.js'

/** Where `dial` must connect: the hostname as the Worker wrote it (or the policy's address). */
export interface DialTarget {
  readonly hostname: string
  readonly port: number
}

/**
 * A dial failure. `workerMessage`, if set, is what the Worker sees instead of workerd's generic
 * connection failure (for example Cloudflare's port 25 message).
 */
export interface DialError extends Error {
  workerMessage?: string
}

/** What the runtime is told about a socket being created. Values are as the Worker passed them. */
export interface ConnectRequest {
  /** The address string as workerd reports it in `opened.remoteAddress`. */
  readonly address: string
  /** Hostname as parsed (IPv6 literals without brackets). */
  readonly hostname: string
  readonly port: number
  readonly secureTransport: 'off' | 'on' | 'starttls'
}

/** Per-socket terms the runtime sets. Every field is optional. */
export interface SocketTerms {
  /**
   * Settles when the socket may start connecting (e.g. a per-request slot is free). If it rejects,
   * the socket fails like a network failure, and `opened`/`closed` reject with the rejection's
   * message when it is an `Error`, else with workerd's generic message.
   */
  readonly admitted?: Promise<void>
  /** Consulted for every connection, after admission and before any packet is sent. */
  readonly policy?: EgressPolicy
  /**
   * Opens the TCP connection in place of `net.connect`, for example by asking a broker outside a
   * sandbox that checks the policy itself and passes back a connected socket. Must honour
   * `signal` (the connect timeout or close). TLS, when asked for, is layered on the result here.
   */
  dial?(target: DialTarget, signal: AbortSignal): Promise<NodeSocket>
  /** Milliseconds from admission to an open connection (TLS included). Default: none. */
  readonly connectTimeoutMs?: number
  /** Extra trusted CA certificates (PEM) for TLS. */
  readonly ca?: string | readonly string[]
  /** Throws workerd's cross-request error when I/O is attempted outside the owning context. */
  assertIo?(kind: 'Readable' | 'Writable'): void
  /**
   * What `opened` resolves to instead of `{ remoteAddress: <address>, localAddress: undefined }`.
   * For a socket the runtime hands in (a `connect()` handler's): workerd resolves it with
   * `{ remoteAddress: undefined, localAddress: <the address the caller passed> }`.
   */
  readonly info?: { readonly remoteAddress?: string; readonly localAddress?: string }
  /**
   * `false`: the connection cannot carry TLS (workerd: a socket to another Worker's connect()
   * handler). `startTls()` then does as workerd does: the old socket's `closed` resolves and the
   * new socket's `opened` and `closed` reject with `startTls() is not supported on this connection.`
   */
  readonly tlsUpgrade?: false
  /** Called exactly once when the socket's connection is gone (closed, failed or upgraded). */
  onFinished?(): void
}

/** A runtime decides, synchronously inside `connect()`, the terms of each socket. */
export interface SocketRuntime {
  /**
   * Called after workerd's argument checks pass. May throw (for example workerd's global-scope
   * error); the exception propagates out of `connect()` unchanged.
   */
  admit(request: ConnectRequest, socket: object): SocketTerms
}

let current: SocketRuntime | undefined

/** Installs (or with `undefined`, removes) the process-wide (per-thread) socket runtime. */
export function setSocketRuntime(runtime: SocketRuntime | undefined): void {
  current = runtime
}

/** The installed runtime, if any. */
export function getSocketRuntime(): SocketRuntime | undefined {
  return current
}
