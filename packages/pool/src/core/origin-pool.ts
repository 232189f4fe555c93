/**
 * A bounded set of origin connections, protocol-neutral: clients lease one for a transaction;
 * waiting is bounded in count and time, and fails with a clear error (Hyperdrive's wording).
 * Broken connections are dropped and replaced on demand, so a restarted origin is recovered from
 * by the next lease. What a connection is, and how it is reset, rolled back or cancelled, is the
 * protocol's business: the `OriginDriver` (pg/origin-driver.ts for PostgreSQL).
 */
import { PoolClosedError, PoolExhaustedError } from '../errors.js'

export { PoolExhaustedError }

/** What the pool needs of a connection, whatever its protocol. */
export interface PooledConnection {
  /** Unusable (closed, failed): never handed out again. */
  readonly broken: boolean
  /** Session state was changed: the driver resets it before the next lease. */
  dirty: boolean
  lastUsed: number
  /** The pool's bookkeeping when the connection ends (set by the pool). */
  onClose: ((error: Error | undefined) => void) | undefined
  /** The leasing session's, while leased: its transaction is gone. */
  onLeaseLost: ((error: Error | undefined) => void) | undefined
  close(): void
}

/** The protocol-specific half of the pool. Each callback-taking method calls `done` once. */
export interface OriginDriver<C extends PooledConnection> {
  open(): Promise<C>
  /** Stop delivering the connection's input to its last lessee. */
  detach(conn: C): void
  /** Resets session state (RESET ALL); `done(false)` closes the connection. */
  reset(conn: C, done: (ok: boolean) => void): void
  /** Ends an open transaction (ROLLBACK); `done(false)` closes the connection. */
  rollback(conn: C, done: (ok: boolean) => void): void
  /** Asks the origin to cancel what runs on the connection (out of band). */
  cancel(conn: C): void
}

export interface PoolLimits {
  /** Origin connections at most. */
  readonly maxConnections: number
  /** Clients waiting for a connection at most; more are refused at once. */
  readonly maxWaiting: number
  /** How long a client waits for a connection. */
  readonly acquireTimeoutMs: number
  /** Idle origin connections are closed after this long. */
  readonly idleTimeoutMs: number
}

interface Waiter<C> {
  resolve(conn: C): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

export class OriginPool<C extends PooledConnection> {
  private readonly idle: C[] = []
  private readonly waiters: Waiter<C>[] = []
  private total = 0
  private closed = false
  private readonly sweeper: NodeJS.Timeout
  /** The first connection opened (its server parameters are what clients are told). */
  first: C | undefined
  readonly stats = { created: 0, failed: 0, leases: 0, resets: 0, waitedTooLong: 0 }

  constructor(
    private readonly driver: OriginDriver<C>,
    private readonly limits: PoolLimits
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(limits.idleTimeoutMs, 10_000))
    this.sweeper.unref()
  }

  get size(): number {
    return this.total
  }

  get idleCount(): number {
    return this.idle.length
  }

  get waiting(): number {
    return this.waiters.length
  }

  /** Opens one connection now, to fail fast on bad settings and learn the server's parameters. */
  async warm(): Promise<void> {
    const conn = await this.create()
    this.release(conn)
  }

  /** An idle connection now, without waiting (undefined: none, or closing). */
  takeIdle(): C | undefined {
    if (this.closed) return undefined
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (!conn.broken) {
        this.stats.leases++
        return conn
      }
    }
    return undefined
  }

  async acquire(): Promise<C> {
    if (this.closed) throw new PoolClosedError()
    const idle = this.takeIdle()
    if (idle) return idle
    if (this.total < this.limits.maxConnections) {
      const conn = await this.create()
      this.stats.leases++
      return conn
    }
    if (this.waiters.length >= this.limits.maxWaiting) {
      throw new PoolExhaustedError(
        `Failed to acquire a connection from the pool: ${this.waiters.length} clients are already waiting`
      )
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter<C> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          this.stats.waitedTooLong++
          reject(
            new PoolExhaustedError(
              `Failed to acquire a connection from the pool within ${this.limits.acquireTimeoutMs} ms (all ${this.limits.maxConnections} origin connections are in transactions)`
            )
          )
        }, this.limits.acquireTimeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  private async create(): Promise<C> {
    this.total++
    try {
      const conn = await this.driver.open()
      this.stats.created++
      this.first ??= conn
      conn.onClose = () => this.forget(conn)
      return conn
    } catch (error) {
      this.total--
      this.stats.failed++
      this.handOverCapacity()
      throw error
    }
  }

  private forget(conn: C): void {
    const i = this.idle.indexOf(conn)
    if (i >= 0) this.idle.splice(i, 1)
    this.total--
    this.handOverCapacity()
  }

  /** A slot freed up (a connection died or failed to open): let a waiter open a new one. */
  private handOverCapacity(): void {
    const waiter = this.waiters.shift()
    if (!waiter) return
    clearTimeout(waiter.timer)
    this.create().then(
      (conn) => {
        this.stats.leases++
        waiter.resolve(conn)
      },
      (error: unknown) => waiter.reject(error as Error)
    )
  }

  /** Returns a connection after its transaction; session state is reset first if it was changed. */
  release(conn: C): void {
    this.driver.detach(conn)
    if (conn.broken) return
    if (this.closed) {
      conn.close()
      return
    }
    if (conn.dirty) {
      this.reset(conn)
      return
    }
    conn.onLeaseLost = undefined
    conn.lastUsed = Date.now()
    const waiter = this.waiters.shift()
    if (waiter) {
      clearTimeout(waiter.timer)
      this.stats.leases++
      waiter.resolve(conn)
      return
    }
    this.idle.push(conn)
  }

  /** RESET ALL (Hyperdrive's reset: SET state never leaks to the next client). */
  private reset(conn: C): void {
    this.stats.resets++
    conn.dirty = false
    this.driver.reset(conn, (ok) => (ok ? this.release(conn) : conn.close()))
  }

  /** The client left inside a transaction: roll it back, then the connection is reusable. */
  rollbackAndRelease(conn: C): void {
    conn.onLeaseLost = undefined
    this.driver.rollback(conn, (ok) => (ok ? this.release(conn) : conn.close()))
  }

  /** Forwards a client's cancel request to the origin backend its transaction runs on. */
  cancel(conn: C): void {
    this.driver.cancel(conn)
  }

  /** Marks a leased connection unusable (its client vanished mid-protocol); it is closed. */
  discard(conn: C): void {
    this.driver.detach(conn)
    conn.close()
  }

  private sweep(): void {
    const cutoff = Date.now() - this.limits.idleTimeoutMs
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]
      // Keep one warm connection; close the rest once idle for too long.
      if (conn && this.idle.length > 1 && conn.lastUsed < cutoff) {
        this.idle.splice(i, 1)
        conn.close()
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.sweeper)
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(new PoolClosedError('the pool is closing'))
    }
    for (const conn of this.idle.splice(0)) conn.close()
    await Promise.resolve()
  }
}
