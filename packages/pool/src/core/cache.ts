/**
 * The query cache: Hyperdrive's model (read-only statements, max_age 60 s, stale-while-revalidate
 * 15 s, entries up to a size, LRU eviction) plus what Hyperdrive lacks: a write that passes
 * through the pooler drops the cached results of the tables it writes.
 *
 * Protocol-neutral: a key is an opaque string (the front end hashes the request bytes into it),
 * a result is the protocol's own reply bytes, and relations are table names as the front end
 * normalised them. An optional `CacheStore` (Redis) sits behind it and is shared by poolers.
 */

export interface CacheOptions {
  /** Fresh for this long (Hyperdrive: 60 s, at most 1 hour). */
  readonly maxAgeMs: number
  /** Then served stale for this long while one refresh runs (Hyperdrive: 15 s). */
  readonly staleWhileRevalidateMs: number
  /** Total bytes of cached responses. */
  readonly maxBytes: number
  /** Responses larger than this are not cached (Hyperdrive: 50 MB). */
  readonly maxEntryBytes: number
}

export const DEFAULT_CACHE: CacheOptions = {
  maxAgeMs: 60_000,
  staleWhileRevalidateMs: 15_000,
  maxBytes: 64 * 1024 * 1024,
  maxEntryBytes: 8 * 1024 * 1024,
}

export interface CachedResult {
  /** RowDescription ('T') as received, if the request described its portal. */
  readonly description: Buffer | undefined
  /** DataRows and the CommandComplete, as received. */
  readonly rows: Buffer
  /** Relations read (lowercase, no schema); null: drop on any write. */
  readonly relations: readonly string[] | null
}

export interface StoredResult {
  readonly result: CachedResult
  readonly storedAt: number
}

/**
 * A store shared by several poolers behind each one's memory cache (core/redis-store.ts).
 * Store trouble never fails a query: `get` resolves undefined on any error or timeout.
 */
/**
 * Taken by a store lookup that missed, before the origin is asked: a result read afterwards is
 * stored only if no write to its relations reached the store in between (opaque).
 */
export type StoreToken = string

export interface StoreLookup {
  readonly found: StoredResult | undefined
  /** On a miss: what `set` needs to store the result read next. */
  readonly token: StoreToken | undefined
}

export interface CacheStore {
  get(key: string, relations: readonly string[] | null): Promise<StoreLookup>
  /** Fire and forget; without a token nothing is stored (there was no lookup to vouch for it). */
  set(
    key: string,
    result: CachedResult,
    storedAt: number,
    ttlMs: number,
    token: StoreToken | undefined
  ): void
  /** Drops the stored results of `tables` (or all), and tells the other poolers. */
  invalidate(tables: readonly string[] | 'all'): void
  /** Set by the cache: another pooler invalidated these tables. */
  onRemoteInvalidate: ((tables: readonly string[] | 'all') => void) | undefined
  /** False while other poolers' invalidations may be missed: the cache then serves nothing. */
  readonly vouches: boolean
}

interface Entry extends CachedResult {
  readonly key: string
  readonly storedAt: number
  readonly size: number
  refreshing: boolean
  /** `seq` when it was last put at the young end. */
  touched: number
}

export interface CacheHit {
  readonly result: CachedResult
  /** Past max_age but within stale-while-revalidate: serve, and refresh once. */
  readonly stale: boolean
  /** True for exactly one caller per stale entry: that caller refreshes it. */
  readonly shouldRefresh: boolean
}

/** Bytes counted per entry beyond its data (key string, Map slot, entry and Buffer objects). */
const ENTRY_OVERHEAD = 512

function owned(b: Buffer): Buffer {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : Buffer.from(b)
}

export class QueryCache {
  private readonly entries = new Map<string, Entry>()
  private bytes = 0
  /** Counts moves to the young end of `entries` (insertions and hits that move). */
  private seq = 0
  readonly stats = { hits: 0, staleHits: 0, misses: 0, stores: 0, evictions: 0, invalidations: 0 }

  constructor(
    readonly options: CacheOptions,
    /** The shared store behind this cache, if any. */
    readonly store?: CacheStore
  ) {
    if (store) store.onRemoteInvalidate = (tables) => this.invalidate(tables, true)
  }

  /**
   * Set while an invalidation source the cache relies on is down (the WAL stream): it then
   * serves nothing, since it cannot vouch for what it holds.
   */
  suspended = false

  /**
   * performance.now() after which nothing is served until an invalidation source vouches again
   * (the WAL stream's lag bound moves it forward; Infinity without one).
   */
  vouchedUntil = Number.POSITIVE_INFINITY

  get size(): number {
    return this.entries.size
  }

  get storedBytes(): number {
    return this.bytes
  }

  get(key: string, now = Date.now()): CacheHit | undefined {
    const entry =
      this.suspended ||
      (this.store && !this.store.vouches) ||
      (this.vouchedUntil !== Number.POSITIVE_INFINITY && performance.now() > this.vouchedUntil)
        ? undefined
        : this.entries.get(key)
    if (!entry) {
      this.stats.misses++
      return undefined
    }
    const age = now - entry.storedAt
    if (age > this.options.maxAgeMs + this.options.staleWhileRevalidateMs) {
      this.remove(entry)
      this.stats.misses++
      return undefined
    }
    // LRU, nearly: a hit moves the entry to the young end once it is in the older half. Moving
    // on every hit (a Map delete and set) cost ~25 µs per hit in a 60,000-entry cache; an entry
    // hit at least once per half a cache's worth of insertions is never evicted either way.
    if (this.seq - entry.touched >= this.entries.size >> 1) {
      this.entries.delete(key)
      this.entries.set(key, entry)
      entry.touched = ++this.seq
    }
    const stale = age > this.options.maxAgeMs
    if (stale) this.stats.staleHits++
    else this.stats.hits++
    const shouldRefresh = stale && !entry.refreshing
    if (shouldRefresh) entry.refreshing = true
    return { result: entry, stale, shouldRefresh }
  }

  /**
   * `fromStore`: the result came from the shared store, so it is not written back. Otherwise
   * `storeToken` (from the store lookup that missed before the origin read) lets it reach the
   * store too.
   */
  set(
    key: string,
    result: CachedResult,
    now = Date.now(),
    fromStore = false,
    storeToken?: StoreToken
  ): boolean {
    const size =
      (result.description?.length ?? 0) + result.rows.length + key.length + ENTRY_OVERHEAD
    if (size > this.options.maxEntryBytes) return false
    const old = this.entries.get(key)
    if (old) this.remove(old)
    const entry: Entry = {
      // Copies: a received frame is a view of a whole socket read (up to 64 KiB), which a
      // cached view would keep alive for as long as the entry lives.
      description: result.description && Buffer.from(result.description),
      rows: owned(result.rows),
      relations: result.relations,
      key,
      storedAt: now,
      size,
      refreshing: false,
      touched: ++this.seq,
    }
    this.entries.set(key, entry)
    this.bytes += size
    this.stats.stores++
    if (!fromStore)
      this.store?.set(
        key,
        entry,
        now,
        this.options.maxAgeMs + this.options.staleWhileRevalidateMs,
        storeToken
      )
    for (const victim of this.entries.values()) {
      if (this.bytes <= this.options.maxBytes) break
      this.remove(victim)
      this.stats.evictions++
    }
    return true
  }

  /**
   * Told of every invalidation that started here (not those from the store): the other
   * processes of a `--processes` group drop the same results.
   */
  onLocalInvalidate: ((tables: readonly string[] | 'all') => void) | undefined

  /** Bumped by every invalidation; `written` says when each table last was. */
  private epoch = 0
  private allWrittenAt = 0
  private readonly writtenAt = new Map<string, number>()

  /** A mark to pass to `changedSince` later: taken before a result is read from the origin. */
  mark(): number {
    return this.epoch
  }

  /**
   * Whether any of `relations` was invalidated after `mark`: a result read before that may be
   * older than the write, so it must not be stored (the write's invalidation came first).
   */
  changedSince(relations: readonly string[] | null, mark: number): boolean {
    if (this.allWrittenAt > mark) return true
    if (relations === null) return this.epoch > mark
    return relations.some((r) => (this.writtenAt.get(r) ?? 0) > mark)
  }

  /** A refresh failed: let the next stale hit try again. */
  refreshFailed(key: string): void {
    const entry = this.entries.get(key)
    if (entry) entry.refreshing = false
  }

  /** Drops entries that read any of `tables` (and those whose relations are unknown). */
  invalidate(tables: readonly string[] | 'all', fromStore = false): void {
    if (!fromStore) {
      this.store?.invalidate(tables)
      if (tables === 'all' || tables.length > 0) this.onLocalInvalidate?.(tables)
    }
    if (tables === 'all' || tables.length > 0) this.epoch++
    if (tables === 'all' || this.writtenAt.size > 100_000) {
      this.allWrittenAt = this.epoch
      this.writtenAt.clear()
    } else for (const t of tables) this.writtenAt.set(t, this.epoch)
    if (tables === 'all') {
      this.stats.invalidations += this.entries.size
      this.entries.clear()
      this.bytes = 0
      return
    }
    if (tables.length === 0) return
    const written = new Set(tables)
    for (const entry of [...this.entries.values()]) {
      if (entry.relations === null || entry.relations.some((r) => written.has(r))) {
        this.remove(entry)
        this.stats.invalidations++
      }
    }
  }

  clear(): void {
    this.entries.clear()
    this.bytes = 0
  }

  private remove(entry: Entry): void {
    if (this.entries.get(entry.key) === entry) {
      this.entries.delete(entry.key)
      this.bytes -= entry.size
    }
  }
}
