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
 * reconnects with backoff; when it is back, everything cached before is dropped.
 */
import { randomBytes } from 'node:crypto'
import type { QueryCache } from '../core/cache.js'
import { writeEffects, type CatalogSnapshot } from './catalog.js'
import { OriginConnection, type OriginOptions } from './origin.js'
import * as m from './protocol.js'
import { BodyReader, MessageWriter, type Frame } from './wire.js'

export interface WalOptions {
  /** The publication to subscribe to (it must exist). */
  readonly publication: string
}

export interface WalStats {
  connected: boolean
  commits: number
  invalidations: number
  reconnects: number
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
  readonly stats: WalStats = { connected: false, commits: 0, invalidations: 0, reconnects: 0 }
  private conn: OriginConnection | undefined
  private closed = false
  private retryMs = MIN_RETRY_MS
  private retryTimer: NodeJS.Timeout | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private readonly relations = new Map<number, string>()
  private touched = new Set<string>()
  private lsn = 0n

  constructor(
    private readonly origin: OriginOptions,
    private readonly options: WalOptions,
    private readonly cache: QueryCache,
    private readonly catalog: () => CatalogSnapshot,
    private readonly log: (line: string) => void
  ) {}

  /** Connects once; a failure here is the caller's (start-up fails on bad settings). */
  async start(): Promise<void> {
    this.cache.suspended = true
    await this.connect()
  }

  private async connect(): Promise<void> {
    const conn = await OriginConnection.open({ ...this.origin, replication: true })
    if (this.closed) {
      conn.close()
      return
    }
    try {
      const slot = `wharf_${randomBytes(6).toString('hex')}`
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
    } catch (error) {
      conn.close()
      throw error
    }
    this.conn = conn
    conn.onClose = (error) => this.lost(error)
    this.relations.clear()
    this.touched = new Set()
    this.statusTimer = setInterval(() => conn.write(standbyStatus(this.lsn)), STATUS_EVERY_MS)
    this.statusTimer.unref()
    // Anything cached while the stream was down may be stale.
    this.cache.invalidate('all')
    this.cache.suspended = false
    this.stats.connected = true
    this.retryMs = MIN_RETRY_MS
  }

  private lost(error: Error | undefined): void {
    clearInterval(this.statusTimer)
    this.conn = undefined
    this.cache.suspended = true
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
      const end = r.bytes(8).readBigUInt64BE()
      r.bytes(8)
      if (end > this.lsn && this.touched.size === 0) this.lsn = end
      if (r.byte() === 1) conn.write(standbyStatus(this.lsn))
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
        if (end > this.lsn) this.lsn = end
        if (tables.length === 0) return
        this.stats.invalidations++
        this.cache.invalidate(
          this.touched.has(UNKNOWN) || tables.includes(UNKNOWN)
            ? 'all'
            : writeEffects(this.catalog(), tables)
        )
        return
      }
      default:
        return
    }
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
    this.conn?.close()
  }
}
