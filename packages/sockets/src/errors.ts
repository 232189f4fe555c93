/**
 * Wharf's own errors in `@wharf/sockets`: one base class with a stable `code`, one subclass per
 * code (undici's model). Match on `err.code`, never on the message.
 *
 * These are operator-facing. A Worker never sees them: what its sockets reject with is workerd's
 * own `Error`/`TypeError`, byte for byte (see `messages.ts`); the real cause goes to
 * `wharf:sockets:error` and `NODE_DEBUG=wharf-sockets`. Every code is listed in docs/errors.md.
 *
 * @module
 */

/** The base of every coded error in `@wharf/sockets`. */
export class WharfSocketsError extends Error {
  /** Stable machine-readable code (`ERR_…`). */
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** The connect (policy, DNS, TCP and TLS) took longer than `connectTimeoutMs`. */
export class SocketConnectTimeoutError extends WharfSocketsError {
  declare readonly code: 'ERR_SOCKET_CONNECT_TIMEOUT'
  constructor(readonly timeoutMs: number) {
    super('ERR_SOCKET_CONNECT_TIMEOUT', `connect timed out after ${timeoutMs} ms`)
  }
}

/** The address string has no reachable `host:port` (kj's parser refuses it; workerd fails async). */
export class SocketAddressError extends WharfSocketsError {
  declare readonly code: 'ERR_SOCKET_ADDRESS'
  constructor(address: string) {
    super('ERR_SOCKET_ADDRESS', `address ${address} is not a reachable host:port`)
  }
}

/** The connection ended before it opened: the peer closed, or `close()` gave up waiting. */
export class SocketClosedBeforeOpenError extends WharfSocketsError {
  declare readonly code: 'ERR_SOCKET_CLOSED_BEFORE_OPEN'
  constructor(why: string) {
    super('ERR_SOCKET_CLOSED_BEFORE_OPEN', why)
  }
}

/** `startTls()` found no connection to take over (it failed, or `close()` was called first). */
export class SocketUpgradeError extends WharfSocketsError {
  declare readonly code: 'ERR_SOCKET_UPGRADE'
  constructor(why: string) {
    super('ERR_SOCKET_UPGRADE', why)
  }
}

/**
 * The egress policy refused the connection; the message names the rule. `workerMessage`, when
 * set, is what the Worker sees instead of workerd's generic failure (port 25's message).
 */
export class EgressDeniedError extends WharfSocketsError {
  declare readonly code: 'ERR_EGRESS_DENIED'
  readonly workerMessage?: string
  constructor(
    readonly rule: string,
    readonly reason: string,
    workerMessage?: string
  ) {
    super('ERR_EGRESS_DENIED', `egress denied by ${rule}: ${reason}`)
    if (workerMessage !== undefined) this.workerMessage = workerMessage
  }
}

/** An allow or deny rule the operator wrote does not parse. Nothing is guessed. */
export class EgressRuleError extends WharfSocketsError {
  declare readonly code: 'ERR_EGRESS_RULE'
  constructor(
    readonly rule: string,
    why: string
  ) {
    super('ERR_EGRESS_RULE', `invalid egress rule ${JSON.stringify(rule.slice(0, 120))}: ${why}`)
  }
}

/** An egress policy option other than a rule is out of range (e.g. `dnsTimeoutMs`). */
export class EgressConfigError extends WharfSocketsError {
  declare readonly code: 'ERR_EGRESS_CONFIG'
  constructor(why: string) {
    super('ERR_EGRESS_CONFIG', why)
  }
}

/** The policy's DNS lookup took longer than `dnsTimeoutMs` (the connection is denied). */
export class EgressDnsTimeoutError extends WharfSocketsError {
  declare readonly code: 'ERR_EGRESS_DNS_TIMEOUT'
  constructor(readonly timeoutMs: number) {
    super('ERR_EGRESS_DNS_TIMEOUT', `DNS lookup timed out after ${timeoutMs} ms`)
  }
}
