/**
 * Every error `@wharf/pool` raises, in one place (undici's model): a base class with a stable
 * `code`, one subclass per code. What a database client sees instead is an ErrorResponse with a
 * SQLSTATE; those are listed in `SQLSTATE` below. docs/errors.md documents both, and
 * test/errors-doc.test.ts checks the document against this file.
 */

export class PoolError extends Error {
  readonly code: string = 'ERR_POOL'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PoolError'
  }
}

/** A bad option, flag or listen address (`startPool()` / `wharf pool` fail with it). */
export class PoolConfigError extends PoolError {
  override readonly code: string = 'ERR_POOL_CONFIG'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PoolConfigError'
  }
}

/** No origin connection within `acquireTimeoutMs`, or too many clients already waiting. */
export class PoolExhaustedError extends PoolError {
  override readonly code: string = 'ERR_POOL_EXHAUSTED'
  constructor(message: string) {
    super(message)
    this.name = 'PoolExhaustedError'
  }
}

/** A malformed or out-of-place message from a client (it gets a FATAL 08P01). */
export class ProtocolError extends PoolError {
  override readonly code: string = 'ERR_POOL_PROTOCOL'
  constructor(message: string) {
    super(message)
    this.name = 'ProtocolError'
  }
}

/** The origin cannot be reached or refused the connection. Subclasses say why. */
export class OriginError extends PoolError {
  override readonly code: string = 'ERR_POOL_ORIGIN'
  constructor(
    message: string,
    /** The origin's SQLSTATE, when it sent one. */
    readonly sqlState?: string
  ) {
    super(message)
    this.name = 'OriginError'
  }
}

export class OriginAuthError extends OriginError {
  override readonly code: string = 'ERR_POOL_ORIGIN_AUTH'
  constructor(message: string, sqlState?: string) {
    super(message, sqlState)
    this.name = 'OriginAuthError'
  }
}

export class OriginTlsError extends OriginError {
  override readonly code: string = 'ERR_POOL_ORIGIN_TLS'
  constructor(message: string) {
    super(message)
    this.name = 'OriginTlsError'
  }
}

export class OriginTimeoutError extends OriginError {
  override readonly code: string = 'ERR_POOL_ORIGIN_TIMEOUT'
  constructor(message: string) {
    super(message)
    this.name = 'OriginTimeoutError'
  }
}

/** The pooler is closing or closed. */
export class PoolClosedError extends PoolError {
  override readonly code: string = 'ERR_POOL_CLOSED'
  constructor(message = 'the pool is closed') {
    super(message)
    this.name = 'PoolClosedError'
  }
}

/**
 * SQLSTATEs the pooler itself sends to clients (each documented in docs/errors.md). Errors the
 * origin sends are forwarded unchanged and are not listed.
 */
export const SQLSTATE = {
  /** A statement refused in transaction pooling (LISTEN, PREPARE, session advisory locks...). */
  featureNotSupported: '0A000',
  /** Malformed message, start-up timeout, unsupported protocol version (FATAL). */
  protocolViolation: '08P01',
  /** The origin connection died under a client's request (FATAL). */
  connectionFailure: '08006',
  /** The client's database name is not the one this pooler serves (FATAL). */
  invalidCatalogName: '3D000',
  /** Wrong user or password (FATAL). */
  invalidPassword: '28P01',
  /** Too much data sent ahead while waiting for an origin connection (FATAL). */
  programLimitExceeded: '54000',
  /** No origin connection within the acquire timeout. */
  tooManyConnections: '53300',
  /** The origin cannot be reached. */
  systemError: '58000',
  /** A bug in the pooler (FATAL). */
  internalError: 'XX000',
} as const
