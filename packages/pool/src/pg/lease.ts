/**
 * The lease lifecycle of one session: an origin connection is taken for a transaction (or a
 * pipelined batch) and given back when the session is idle with nothing in flight. Given back
 * how depends on the state it is left in: released, rolled back, or discarded.
 */
import type { QueryCache } from '../core/cache.js'
import type { OriginConnection } from './origin.js'
import type { PgPool } from './origin-driver.js'
import type { Frame } from './wire.js'

export class Lease {
  /** The connection held, if any. */
  conn: OriginConnection | undefined
  /** An acquire is under way. */
  acquiring = false
  /** Tables written under this lease: dropped from the cache again when it ends. */
  private written: Set<string> | 'all' | undefined
  /** DDL went through under this lease (reset when it is taken). */
  ddl = false

  constructor(
    private readonly pool: PgPool,
    private readonly cache: QueryCache | undefined
  ) {}

  /**
   * Takes a connection and routes its frames to `onFrame`. Resolves undefined when `wanted()`
   * is false once it arrives (the client left): the connection went straight back.
   */
  async acquire(
    onFrame: (frame: Frame) => void,
    onLost: (error: Error | undefined) => void,
    wanted: () => boolean
  ): Promise<OriginConnection | undefined> {
    this.acquiring = true
    let conn: OriginConnection
    try {
      conn = await this.pool.acquire()
    } finally {
      this.acquiring = false
    }
    if (!wanted()) {
      this.pool.release(conn)
      return undefined
    }
    this.take(conn, onFrame, onLost)
    return conn
  }

  /** An idle connection taken without waiting, or undefined if there is none. */
  takeIdle(
    onFrame: (frame: Frame) => void,
    onLost: (error: Error | undefined) => void
  ): OriginConnection | undefined {
    const conn = this.pool.takeIdle()
    if (conn) this.take(conn, onFrame, onLost)
    return conn
  }

  private take(
    conn: OriginConnection,
    onFrame: (frame: Frame) => void,
    onLost: (error: Error | undefined) => void
  ): void {
    this.conn = conn
    this.written = undefined
    this.ddl = false
    conn.onFrame = onFrame
    conn.onLeaseLost = onLost
  }

  /** A write went through: its tables' cached results are dropped now and at the end. */
  wrote(tables: readonly string[] | 'all'): void {
    if (tables === 'all') this.written = 'all'
    else if (this.written !== 'all' && tables.length > 0) {
      const written: Set<string> = this.written ?? new Set()
      for (const t of tables) written.add(t)
      this.written = written
    }
  }

  /** The session is idle with nothing in flight: the connection goes back to the pool. */
  release(): void {
    const conn = this.conn
    if (!conn) return
    this.conn = undefined
    conn.onLeaseLost = undefined
    // A write inside a transaction: its readers may have cached old rows meanwhile. Drop again.
    const written = this.written
    if (written === 'all' || (written && written.size > 0)) {
      this.cache?.invalidate(written === 'all' ? 'all' : [...written])
    }
    this.written = undefined
    this.pool.release(conn)
  }

  /** The origin connection died under the session. */
  lost(): void {
    this.conn = undefined
  }

  /** The client is gone: the connection goes back clean, rolled back, or is closed. */
  end(txStatus: 'I' | 'T' | 'E', inFlight: boolean): void {
    const conn = this.conn
    if (!conn) return
    if (!inFlight && txStatus === 'I') {
      this.release()
      return
    }
    this.conn = undefined
    conn.onLeaseLost = undefined
    // A COMMIT may have been in flight: what it wrote may be committed.
    const written = this.written
    if (written === 'all' || (written && written.size > 0))
      this.cache?.invalidate(written === 'all' ? 'all' : [...written])
    this.written = undefined
    if (!inFlight) this.pool.rollbackAndRelease(conn)
    // Mid-protocol: the only safe thing is to drop the connection (the origin rolls back).
    else this.pool.discard(conn)
  }

  cancel(): void {
    if (this.conn) this.pool.cancel(this.conn)
  }
}
