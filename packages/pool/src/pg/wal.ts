/**
 * Invalidation from the origin's WAL: a logical replication connection streams every committed
 * change (pgoutput), and each commit drops the cached results of the tables it touched, whoever
 * wrote them (psql, cron jobs, other poolers, triggers, cascades, functions).
 *
 * Slot safety: the slot is TEMPORARY, so PostgreSQL drops it when the replication connection
 * ends for any reason, a kill -9 of the pooler included; no slot is left to hold WAL. The
 * operator grants REPLICATION (or uses a superuser) and creates the publication, e.g.
 * `CREATE PUBLICATION wharf FOR ALL TABLES`, with `wal_level = logical`.
 *
 * While the stream is down the cache serves nothing (`QueryCache.suspended`), logs it, and
 * reconnects with backoff; when it is back, everything cached before is dropped. While it lags
 * more than `maxLagMs` behind the origin's WAL (asked with pg_current_wal_insert_lsn() on a plain
 * connection, see wal-lag.ts) the cache serves nothing either, and a log line says so.
 */
import { randomBytes } from 'node:crypto'
import type { QueryCache } from '../core/cache.js'
import { writeEffects, type CatalogSnapshot } from './catalog.js'
import { LagBound } from './wal-lag.js'
import { SCHEMA_DIGEST_SQL, SCHEMA_LIST_SQL, SchemaWatch } from './schema-watch.js'
import { OriginConnection, type OriginOptions } from './origin.js'
import * as m from './protocol.js'
import { BodyReader, MessageWriter, type Frame } from './wire.js'

export interface WalOptions {
  /** The publication to subscribe to (it must exist). */
  readonly publication: string
  /** The cache serves nothing while the stream is further behind the origin (default 1000 ms). */
  readonly maxLagMs?: number
}

export interface WalStats {
  connected: boolean
  commits: number
  invalidations: number
  reconnects: number
  /** Times the stream fell behind the lag bound (each logged). */
  lagging: number
  /** Schema changes (DDL) seen by catalog polling, each dropping what it touched. */
  schemaChanges: number
}

export const DEFAULT_MAX_LAG_MS = 1000

/**
 * The insert position, not the write position: with synchronous_commit = off a commit is
 * visible before its WAL is written. Just past a page boundary the position counts the next
 * page's header, which no record end ever reaches: the boundary itself is what must be applied.
 */
function walPosition(text: string): bigint | undefined {
  const lsn = parseLsn(text)
  if (lsn === undefined) return undefined
  const offset = lsn % WAL_PAGE
  return offset > 0n && offset <= WAL_LONG_PAGE_HEADER ? lsn - offset : lsn
}
const WAL_PAGE = 8192n
const WAL_LONG_PAGE_HEADER = 40n

/** `X/Y` (pg_lsn text) as a number. */
export function parseLsn(text: string): bigint | undefined {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text)
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : undefined
}

const MIN_RETRY_MS = 200
const MAX_RETRY_MS = 10_000
const STATUS_EVERY_MS = 10_000
/** Epoch of replication timestamps (2000-01-01) in Unix ms. */
const PG_EPOCH_MS = 946_684_800_000

function standbyStatus(lsn: bigint): Buffer {
  const body = Buffer.alloc(34)
  body[0] = 0x72 // 'r'
  body.writeBigUInt64BE(lsn, 1)
  body.writeBigUInt64BE(lsn, 9)
  body.writeBigUInt64BE(lsn, 17)
  body.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25)
  body[33] = 0
  return new MessageWriter().bytes(body).build('d')
}

const UNKNOWN = '\0unknown'
const quoteLiteral = (s: string): string => `'${s.replaceAll("'", "''")}'`

export class WalInvalidator {
  readonly stats: WalStats = {
    connected: false,
    commits: 0,
    invalidations: 0,
    reconnects: 0,
    lagging: 0,
    schemaChanges: 0,
  }
  private readonly schema = new SchemaWatch()
  private conn: OriginConnection | undefined
  /** A plain connection that asks the origin for its WAL position. */
  private poller: OriginConnection | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private lagTimer: NodeJS.Timeout | undefined
  private polling = false
  private lagLogged = false
  private inTransaction = false
  readonly lag: LagBound
  private closed = false
  private retryMs = MIN_RETRY_MS
  private retryTimer: NodeJS.Timeout | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private readonly relations = new Map<number, string>()
  private touched = new Set<string>()
  private lsn = 0n
  /** The position last reported to the walsender (standby status update). */
  private reported = 0n

  constructor(
    private readonly origin: OriginOptions,
    private readonly options: WalOptions,
    private readonly cache: QueryCache,
    private readonly catalog: () => CatalogSnapshot,
    private readonly log: (line: string) => void,
    /** DDL was seen: take a new catalog snapshot. */
    private readonly onSchemaChange: () => void = () => undefined
  ) {
    const maxLag = options.maxLagMs ?? DEFAULT_MAX_LAG_MS
    this.lag = new LagBound(maxLag)
    this.pollMs = Math.min(Math.max(Math.floor(maxLag / 4), 10), 1000)
  }

  private readonly pollMs: number

  /** Connects once; a failure here is the caller's (start-up fails on bad settings). */
  async start(): Promise<void> {
    this.cache.suspended = true
    this.cache.vouchedUntil = Number.NEGATIVE_INFINITY
    await this.connect()
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs)
    this.pollTimer.unref()
  }

  /** Lag in ms the cache may have now (Infinity while the stream is down). */
  lagMs(): number {
    return this.stats.connected ? Math.max(0, this.lag.lagMs(performance.now())) : Infinity
  }

  /** Asks the origin for its WAL position; one question at a time, each bounded. */
  private async poll(): Promise<void> {
    // While the stream is down nothing is vouched for, and connect() takes the schema anew.
    if (this.polling || this.closed || !this.stats.connected) return
    this.polling = true
    try {
      this.poller ??= await OriginConnection.open(this.origin)
      const at = performance.now()
      const timeout = Math.max(1000, 4 * this.lag.maxLagMs)
      const poller = this.poller
      // The schema digest in the same question: DDL is held to the same bound as row changes.
      const rows = await poller.simpleQuery(
        `SELECT pg_current_wal_insert_lsn(), (${SCHEMA_DIGEST_SQL})`,
        timeout
      )
      const lsn = walPosition(rows[0]?.[0] ?? '')
      if (lsn === undefined) throw new Error('pg_current_wal_insert_lsn() gave no position')
      const changed = await this.schema.changed(rows[0]?.[1] ?? '', () =>
        poller.simpleQuery(SCHEMA_LIST_SQL, timeout)
      )
      if (changed !== undefined && (changed === 'all' || changed.length > 0)) {
        this.stats.schemaChanges++
        this.cache.invalidate(changed === 'all' ? 'all' : writeEffects(this.catalog(), changed))
        this.onSchemaChange()
      }
      if (this.stats.connected) this.lag.polled(lsn, at, this.lsn)
      this.vouchChanged()
    } catch (error) {
      this.poller?.close()
      this.poller = undefined
      if (!this.lagLogged)
        this.log(
          `[wharf:pool] cannot ask the origin for its WAL position: ${(error as Error).message}`
        )
      this.vouchChanged()
    } finally {
      this.polling = false
    }
  }

  /** Moves the cache's vouched window; logs when the stream falls behind the bound or catches up. */
  private vouchChanged(): void {
    this.cache.vouchedUntil = this.stats.connected
      ? this.lag.vouchedUntil
      : Number.NEGATIVE_INFINITY
    if (!this.stats.connected) return
    const now = performance.now()
    const lag = this.lag.lagMs(now)
    const behind = lag > this.lag.maxLagMs
    // Wake up when the window closes, so the log line and the metric come when serving stops.
    if (!behind && !this.lagTimer) {
      this.lagTimer = setTimeout(
        () => {
          this.lagTimer = undefined
          this.vouchChanged()
        },
        Math.max(1, Math.min(this.lag.vouchedUntil - now + 1, 3_600_000))
      )
      this.lagTimer.unref()
    }
    if (behind && !this.lagLogged) {
      this.lagLogged = true
      this.stats.lagging++
      this.log(
        `[wharf:pool] WAL invalidation stream is more than ${this.lag.maxLagMs} ms behind the origin; the cache serves nothing until it catches up`
      )
    } else if (!behind && this.lagLogged) {
      this.lagLogged = false
      this.log('[wharf:pool] WAL invalidation stream caught up; the cache serves again')
    }
  }

  private async connect(): Promise<void> {
    const conn = await OriginConnection.open({ ...this.origin, replication: true })
    if (this.closed) {
      conn.close()
      return
    }
    try {
      const slot = `wharf_${randomBytes(6).toString('hex')}`
      // Every commit before this moment is below the slot's consistent point.
      this.freshAt = performance.now()
      await conn.simpleQuery(`CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput`)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('START_REPLICATION timed out')), 10_000)
        conn.onFrame = (frame) => {
          if (frame.type === 'W') {
            clearTimeout(timer)
            conn.onFrame = (f) => this.onFrame(conn, f)
            resolve()
          } else if (frame.type === 'E') {
            clearTimeout(timer)
            reject(new Error(m.parseErrorFields(frame.body).M ?? 'START_REPLICATION failed'))
          }
        }
        conn.write(
          m.query(
            `START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names ${quoteLiteral(this.options.publication)})`
          )
        )
      })
      // The schema as of now, before anything is cached: DDL from here on is a change.
      // (On a connection of its own: a poll may still be using the poller's.)
      this.schema.reset()
      const look = await OriginConnection.open(this.origin)
      try {
        const digest = await look.simpleQuery(SCHEMA_DIGEST_SQL)
        await this.schema.changed(digest[0]?.[0] ?? '', () => look.simpleQuery(SCHEMA_LIST_SQL))
      } finally {
        look.close()
      }
    } catch (error) {
      conn.close()
      throw error
    }
    this.conn = conn
    conn.onClose = (error) => this.lost(error)
    this.relations.clear()
    this.touched = new Set()
    this.inTransaction = false
    this.reported = 0n
    this.statusTimer = setInterval(() => this.report(conn), STATUS_EVERY_MS)
    this.statusTimer.unref()
    // Anything cached while the stream was down may be stale.
    this.cache.invalidate('all')
    this.cache.suspended = false
    this.stats.connected = true
    this.lag.reset(this.freshAt)
    this.vouchChanged()
    this.retryMs = MIN_RETRY_MS
  }

  private freshAt = 0

  private lost(error: Error | undefined): void {
    clearInterval(this.statusTimer)
    this.conn = undefined
    this.cache.suspended = true
    this.lag.clear()
    this.cache.vouchedUntil = Number.NEGATIVE_INFINITY
    if (this.stats.connected)
      this.log(
        `[wharf:pool] WAL invalidation stream lost${error ? `: ${error.message}` : ''}; the cache serves nothing until it is back`
      )
    this.stats.connected = false
    if (this.closed || this.retryTimer) return
    const delay = this.retryMs
    this.retryMs = Math.min(delay * 2, MAX_RETRY_MS)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.stats.reconnects++
      this.connect().then(
        () => this.log('[wharf:pool] WAL invalidation stream back'),
        (e: unknown) => this.lost(e as Error)
      )
    }, delay)
    this.retryTimer.unref()
  }

  private onFrame(conn: OriginConnection, frame: Frame): void {
    if (frame.type === 'E') {
      conn.close()
      return
    }
    if (frame.type !== 'd') return
    const r = new BodyReader(frame.body)
    const kind = r.byte()
    if (kind === 0x6b) {
      // Keepalive: end LSN, time, reply requested.
      // Outside a transaction it is the walsender's position: everything before it was sent.
      // Answering each one at once makes the walsender send the next as soon as it moves on
      // (it pings while our reported position is behind), so a quiet origin still vouches.
      const end = r.bytes(8).readBigUInt64BE()
      r.bytes(8)
      if (end > this.lsn && !this.inTransaction) this.applied(end)
      // Reply when asked, and whenever the position moved since the last report: the walsender
      // pings once (no reply requested) and then waits for any reply before it pings again, so an
      // unanswered ping would leave its view of our position behind for up to STATUS_EVERY_MS.
      // That stalls the lag bound's vouching and, worse, the origin's shutdown, which waits until
      // we report everything it sent.
      if (r.byte() === 1 || this.lsn > this.reported) this.report(conn)
      return
    }
    if (kind !== 0x77) return
    // XLogData: start, end, time, then one pgoutput message.
    r.bytes(8)
    const end = r.bytes(8).readBigUInt64BE()
    r.bytes(8)
    this.onPgoutput(new BodyReader(r.rest()), end)
  }

  private onPgoutput(r: BodyReader, end: bigint): void {
    const tag = String.fromCharCode(r.byte())
    switch (tag) {
      case 'B':
        this.inTransaction = true
        return
      case 'R': {
        const oid = r.int32()
        r.cstring() // namespace: names are compared without schema, as sql.ts does
        const name = r.cstring().toLowerCase()
        if (this.relations.size < 1_000_000) this.relations.set(oid, name)
        return
      }
      case 'I':
      case 'U':
      case 'D':
        this.touch(r.int32())
        return
      case 'T': {
        const n = r.int32()
        r.byte()
        for (let i = 0; i < n && i < 100_000; i++) this.touch(r.int32())
        return
      }
      case 'C': {
        this.stats.commits++
        const tables = [...this.touched]
        this.touched = new Set()
        this.inTransaction = false
        // Flags, commit LSN, end LSN: the end is where the stream now stands.
        r.byte()
        r.bytes(8)
        const commitEnd = r.bytes(8).readBigUInt64BE()
        if (tables.length > 0) {
          this.stats.invalidations++
          this.cache.invalidate(
            tables.includes(UNKNOWN) ? 'all' : writeEffects(this.catalog(), tables)
          )
        }
        // Only after the drop: the cache is vouched for up to this commit.
        this.applied(commitEnd > end ? commitEnd : end)
        return
      }
      default:
        return
    }
  }

  private report(conn: OriginConnection): void {
    this.reported = this.lsn
    conn.write(standbyStatus(this.lsn))
  }

  private applied(lsn: bigint): void {
    if (lsn <= this.lsn) return
    this.lsn = lsn
    this.lag.applied(lsn)
    this.vouchChanged()
  }

  private touch(oid: number): void {
    const name = this.relations.get(oid)
    // A relation never described: we cannot name it, so everything is dropped at commit.
    this.touched.add(name ?? UNKNOWN)
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    clearInterval(this.statusTimer)
    clearInterval(this.pollTimer)
    clearTimeout(this.lagTimer)
    this.conn?.close()
    this.poller?.close()
  }
}
