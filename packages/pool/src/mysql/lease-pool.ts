/**
 * A bounded set of origin connections leased one transaction at a time, independent of the wire
 * protocol: the protocol supplies `open()` and `reset()`. Waiting is bounded in count and time
 * and fails with Hyperdrive's wording; broken connections are dropped and replaced on demand.
 * (Written against this small interface so it can move to the pool's shared core.)
 */
import { OriginError } from '../origin.js'
import { PoolExhaustedError, type PoolLimits } from '../origin-pool.js'

export interface Leasable {
  readonly broken: boolean
  /** Session state changed: `reset()` before the next lease. */
  dirty: boolean
  lastUsed: number
  onClose: (() => void) | undefined
  close(): void
}

export interface LeaseProtocol<C extends Leasable> {
  open(): Promise<C>
  /** Makes a dirty connection clean; false (or a throw) closes it instead. */
  reset(conn: C): Promise<boolean>
}

interface Waiter<C> {
  resolve(conn: C): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

export class LeasePool<C extends Leasable> {
  private readonly idle: C[] = []
  private readonly waiters: Waiter<C>[] = []
  private total = 0
  private closed = false
  private readonly sweeper: NodeJS.Timeout
  readonly stats = { created: 0, failed: 0, leases: 0, resets: 0, waitedTooLong: 0 }

  constructor(
    private readonly protocol: LeaseProtocol<C>,
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

  async warm(): Promise<C> {
    const conn = await this.create()
    this.release(conn)
    return conn
  }

  async acquire(): Promise<C> {
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
      const conn = await this.protocol.open()
      this.stats.created++
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

  private handOverCapacity(): void {
    if (this.closed || this.total >= this.limits.maxConnections) return
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

  /** Returns a connection after its transaction; a dirty one is reset first. */
  release(conn: C): void {
    if (conn.broken) return
    if (this.closed) {
      conn.close()
      return
    }
    if (conn.dirty) {
      this.stats.resets++
      this.protocol.reset(conn).then(
        (ok) => {
          if (ok && !conn.dirty) this.release(conn)
          else conn.close()
        },
        () => conn.close()
      )
      return
    }
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

  private sweep(): void {
    const cutoff = Date.now() - this.limits.idleTimeoutMs
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]
      if (conn && this.idle.length > 1 && conn.lastUsed < cutoff) {
        this.idle.splice(i, 1)
        conn.close()
      }
    }
  }

  close(): Promise<void> {
    this.closed = true
    clearInterval(this.sweeper)
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(new OriginError('the pool is closing'))
    }
    for (const conn of this.idle.splice(0)) conn.close()
    return Promise.resolve()
  }
}
