/**
 * A bounded set of origin connections. Clients lease one for a transaction; waiting is bounded in
 * count and time, and fails with a clear error (Hyperdrive's wording). Broken connections are
 * dropped and replaced on demand, so a restarted origin is recovered from by the next lease.
 */
import net from 'node:net'
import * as m from './messages.js'
import { OriginConnection, OriginError, type OriginOptions } from './origin.js'

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

export class PoolExhaustedError extends Error {
  readonly code = 'ERR_POOL_EXHAUSTED'
  constructor(message: string) {
    super(message)
    this.name = 'PoolExhaustedError'
  }
}

interface Waiter {
  resolve(conn: OriginConnection): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

export class OriginPool {
  private readonly idle: OriginConnection[] = []
  private readonly waiters: Waiter[] = []
  private total = 0
  private closed = false
  private readonly sweeper: NodeJS.Timeout
  /** Parameters of the first connection: what clients are told at startup. */
  parameters = new Map<string, string>()
  readonly stats = { created: 0, failed: 0, leases: 0, resets: 0, waitedTooLong: 0 }

  constructor(
    private readonly options: OriginOptions,
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

  async acquire(): Promise<OriginConnection> {
    if (this.closed) throw new OriginError('the pool is closed')
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (!conn.broken) {
        this.stats.leases++
        return conn
      }
    }
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
      const waiter: Waiter = {
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

  private async create(): Promise<OriginConnection> {
    this.total++
    try {
      const conn = await OriginConnection.open(this.options)
      this.stats.created++
      if (this.parameters.size === 0) this.parameters = new Map(conn.parameters)
      conn.onClose = () => this.forget(conn)
      return conn
    } catch (error) {
      this.total--
      this.stats.failed++
      this.handOverCapacity()
      throw error
    }
  }

  private forget(conn: OriginConnection): void {
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
  release(conn: OriginConnection): void {
    conn.onFrame = undefined
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
  private reset(conn: OriginConnection): void {
    this.stats.resets++
    conn.dirty = false
    const timer = setTimeout(() => conn.close(), 5000)
    conn.onFrame = (frame) => {
      if (frame.type === 'E') {
        clearTimeout(timer)
        conn.close()
      } else if (frame.type === 'Z') {
        clearTimeout(timer)
        this.release(conn)
      }
    }
    // Too many statements prepared on it: drop them too (they are re-Parsed on demand).
    if (conn.prepared.size > 2000) {
      conn.prepared.clear()
      conn.write(m.query('RESET ALL; DEALLOCATE ALL'))
    } else conn.write(m.query('RESET ALL'))
  }

  /** The client left inside a transaction: roll it back, then the connection is reusable. */
  rollbackAndRelease(conn: OriginConnection): void {
    conn.onLeaseLost = undefined
    const timer = setTimeout(() => conn.close(), 5000)
    conn.onFrame = (frame) => {
      if (frame.type === 'Z') {
        clearTimeout(timer)
        if (frame.body[0] === 0x49) this.release(conn)
        else conn.close()
      }
    }
    conn.write(m.query('ROLLBACK'))
  }

  /** Forwards a client's CancelRequest to the origin backend its transaction runs on. */
  cancel(conn: OriginConnection): void {
    const socket = net.connect({ host: conn.host, port: conn.port })
    socket.on('error', () => undefined)
    socket.setTimeout(5000, () => socket.destroy())
    socket.once('connect', () => socket.end(m.cancelRequest(conn.pid, conn.secretKey)))
  }

  /** Marks a leased connection unusable (its client vanished mid-protocol); it is closed. */
  discard(conn: OriginConnection): void {
    conn.onFrame = undefined
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
      w.reject(new OriginError('the pool is closing'))
    }
    for (const conn of this.idle.splice(0)) conn.close()
    await Promise.resolve()
  }
}
