/**
 * The shared query-cache store: Redis, so several pooler processes share cached results and
 * each other's write invalidations (state shared between processes or hosts lives in Redis).
 *
 * Each pooler keeps its in-memory cache in front. A local miss asks Redis before going to the
 * origin; a stored result is written to Redis too (with a TTL of max_age + stale-while-revalidate);
 * a write drops the entries of its tables in Redis and tells every pooler (PUBLISH) to drop them
 * from memory. Redis trouble never fails a query: a lookup that errs or takes longer than
 * `timeoutMs` is a miss, and the connection is re-made on the next use.
 */
import type { CachedResult, CacheStore, StoreLookup, StoreToken } from './cache.js'
import { parseRedisUrl, RedisClient, type Reply, type RespConnection } from './redis-client.js'
import { decode, encode } from './store-codec.js'

export { redactedUrl } from './redis-client.js'

export interface SharedStoreOptions {
  /** `redis://[:password@]host:port[/db]`. */
  readonly url: string
  /** Key prefix (default `wharf:pool:`): poolers with the same prefix share a cache. */
  readonly prefix?: string
  /** A lookup slower than this is a miss (default 50 ms). */
  readonly timeoutMs?: number
  /** Largest reply accepted (default 16 MiB). */
  readonly maxReplyBytes?: number
  /** Operator log lines (the subscription lost and back). */
  readonly log?: (line: string) => void
}

const RESUBSCRIBE_MIN_MS = 100
const RESUBSCRIBE_MAX_MS = 5000

/*
 * Generations close the race between a pooler that read a result from the origin and another
 * that wrote its table meanwhile. Every invalidation takes the next value of one counter
 * (`g:#`, never expiring) and writes it into the generation key of each table it drops (`g:*`
 * for "all"). A lookup that misses returns the generations of the result's relations (its
 * token), and storing the result later only happens if they are unchanged: a write that landed
 * after the read, through any pooler, stops the stale result from reaching Redis. Values only
 * grow, so an expired generation key (read as 0) never matches an old token again.
 */
const GENERATION_TTL_MS = '3600000'

const MISS: StoreLookup = { found: undefined, token: undefined }

/** KEYS: the result key, then its generation keys. Returns {value or nil, token}. */
const LOOKUP = `
local value = redis.call('GET', KEYS[1])
local parts = {}
for i = 2, #KEYS do parts[i - 1] = redis.call('GET', KEYS[i]) or '0' end
return {value, table.concat(parts, ',')}`

/**
 * KEYS: the result key, ARGV[4] set keys, then the generation keys. ARGV: the encoded result,
 * the TTL (ms), the lookup's token, the number of set keys. Stores the result and lists it in
 * its sets in one step (an invalidation never finds it half-registered), or nothing when a
 * generation moved. Returns 1 when stored.
 */
const STORE = `
local sets = tonumber(ARGV[4])
local parts = {}
for i = 2 + sets, #KEYS do parts[#parts + 1] = redis.call('GET', KEYS[i]) or '0' end
if table.concat(parts, ',') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2, 1 + sets do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1`

/**
 * KEYS: ARGV[1] sets to drop, then the generation keys to move, then the counter. Deletes the
 * members of each set (keys of cached results), then the sets, in chunks.
 */
const INVALIDATE = `
local sets = tonumber(ARGV[1])
local generation = redis.call('INCR', KEYS[#KEYS])
for i = sets + 1, #KEYS - 1 do redis.call('SET', KEYS[i], generation, 'PX', ARGV[2]) end
for i = 1, sets do
  local keys = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #keys, 500 do
    redis.call('DEL', unpack(keys, j, math.min(j + 499, #keys)))
  end
  redis.call('DEL', KEYS[i])
end
return 0`

export class RedisStore implements CacheStore {
  private readonly client: RedisClient
  private readonly prefix: string
  private readonly timeoutMs: number
  private sub: RespConnection | undefined
  private closed = false
  /** `refused`: results not stored because a write moved a generation since their lookup. */
  readonly stats = { hits: 0, misses: 0, errors: 0, refused: 0 }
  private readonly id = `${process.pid}-${Math.random().toString(36).slice(2)}`

  constructor(options: SharedStoreOptions) {
    this.client = new RedisClient(
      parseRedisUrl(options.url, 'the cache store'),
      options.maxReplyBytes ?? 16 * 1024 * 1024
    )
    this.prefix = options.prefix ?? 'wharf:pool:'
    this.timeoutMs = options.timeoutMs ?? 50
    this.log = options.log ?? (() => undefined)
  }

  private readonly log: (line: string) => void

  /**
   * True while this pooler receives the others' invalidations. While it does not (the subscriber
   * connection dropped, Redis restarted), the memory cache cannot vouch for what it holds.
   */
  vouches = false
  onRemoteInvalidate: ((tables: readonly string[] | 'all') => void) | undefined
  private resubscribeTimer: NodeJS.Timeout | undefined
  /** An invalidation failed to reach Redis: flush everything before the next lookup. */
  private unflushed = false
  private resubscribeDelayMs = RESUBSCRIBE_MIN_MS

  /** Connects both connections (fails start-up when Redis is unreachable or refuses AUTH). */
  async start(): Promise<void> {
    await this.client.connection(2000)
    await this.subscribe()
  }

  private async subscribe(): Promise<void> {
    const sub = await this.client.open(2000)
    try {
      await sub.send(['SUBSCRIBE', `${this.prefix}invalidate`], 2000)
    } catch (error) {
      sub.close()
      throw error
    }
    sub.onPush = (reply) => {
      if (!Array.isArray(reply) || !Buffer.isBuffer(reply[2])) return
      const text = reply[2].toString()
      const sep = text.indexOf(' ')
      if (sep < 0 || text.slice(0, sep) === this.id) return
      try {
        const tables = JSON.parse(text.slice(sep + 1)) as unknown
        if (tables === 'all') this.onRemoteInvalidate?.('all')
        else if (Array.isArray(tables) && tables.every((t) => typeof t === 'string'))
          this.onRemoteInvalidate?.(tables)
      } catch {
        // not ours
      }
    }
    sub.onDead = () => this.subscriptionLost()
    if (sub.dead || this.closed) return
    this.sub = sub
    // Whatever was cached while no invalidation could arrive may be stale: drop it.
    this.onRemoteInvalidate?.('all')
    if (this.lostAt !== undefined)
      this.log(
        `cache store subscription back after ${Date.now() - this.lostAt} ms; serving from the cache again`
      )
    this.lostAt = undefined
    this.vouches = true
    this.resubscribeDelayMs = RESUBSCRIBE_MIN_MS
  }

  private lostAt: number | undefined

  private subscriptionLost(): void {
    if (this.vouches && !this.closed) {
      this.lostAt = Date.now()
      this.log(
        "cache store subscription lost: serving nothing from the cache until it is back (other poolers' invalidations could be missed)"
      )
    }
    this.vouches = false
    this.sub = undefined
    this.onRemoteInvalidate?.('all')
    if (this.closed || this.resubscribeTimer) return
    const delay = this.resubscribeDelayMs
    this.resubscribeDelayMs = Math.min(delay * 2, RESUBSCRIBE_MAX_MS)
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = undefined
      this.subscribe().catch(() => this.subscriptionLost())
    }, delay)
    this.resubscribeTimer.unref()
  }

  private run(args: readonly (string | Buffer)[], timeoutMs = 2000): Promise<Reply> {
    return this.client.run(args, timeoutMs)
  }

  private generationKeys(relations: readonly string[]): string[] {
    return [`${this.prefix}g:*`, ...relations.map((t) => `${this.prefix}g:${t}`)]
  }

  /** The EVAL that drops the stored results of `tables` (or all) and moves their generations. */
  private dropCommand(tables: readonly string[] | 'all'): string[] {
    // `t:*` lists every key.
    const names = tables === 'all' ? ['*'] : tables
    const sets = names.map((t) => `${this.prefix}t:${t}`)
    const gens = names.map((t) => `${this.prefix}g:${t}`)
    return [
      'EVAL',
      INVALIDATE,
      String(sets.length + gens.length + 1),
      ...sets,
      ...gens,
      this.counterKey,
      String(sets.length),
      GENERATION_TTL_MS,
    ]
  }

  private get counterKey(): string {
    return `${this.prefix}g:#`
  }

  /**
   * A result another pooler (or this one) stored. A miss carries a token for `set`; any trouble
   * is a miss without one (nothing read then is stored).
   */
  async get(key: string, relations: readonly string[] | null): Promise<StoreLookup> {
    if (this.closed) return MISS
    try {
      // An invalidation that did not reach Redis leaves stale results there: none is served
      // until everything stored was dropped and the other poolers were told.
      if (this.unflushed) {
        await this.run(this.dropCommand('all'), this.timeoutMs)
        await this.run(['PUBLISH', `${this.prefix}invalidate`, `${this.id} "all"`], this.timeoutMs)
        this.unflushed = false
        this.stats.misses++
        return MISS
      }
      // Results whose relations are unknown are not shared: no table's write could find them.
      if (relations === null) {
        this.stats.misses++
        return MISS
      }
      const gens = this.generationKeys(relations)
      const r = await this.run(
        ['EVAL', LOOKUP, String(gens.length + 1), this.prefix + key, ...gens],
        this.timeoutMs
      )
      if (!Array.isArray(r) || !Buffer.isBuffer(r[1])) throw new Error('bad lookup reply')
      const found = Buffer.isBuffer(r[0]) ? decode(r[0]) : undefined
      if (found) {
        this.stats.hits++
        return { found, token: undefined }
      }
      this.stats.misses++
      return { found: undefined, token: r[1].toString('latin1') }
    } catch {
      this.stats.errors++
      return MISS
    }
  }

  set(
    key: string,
    result: CachedResult,
    storedAt: number,
    ttlMs: number,
    token: StoreToken | undefined
  ): void {
    if (this.closed || ttlMs <= 0 || token === undefined || result.relations === null) return
    const sets = [`${this.prefix}t:*`, ...result.relations.map((t) => `${this.prefix}t:${t}`)]
    const gens = this.generationKeys(result.relations)
    const args = [String(ttlMs), token, String(sets.length)]
    this.run([
      'EVAL',
      STORE,
      String(1 + sets.length + gens.length),
      this.prefix + key,
      ...sets,
      ...gens,
      encode(result, storedAt),
      ...args,
    ]).then(
      (stored) => {
        if (stored === 0) this.stats.refused++
      },
      () => {
        this.stats.errors++
      }
    )
  }

  /** Drops the stored results of `tables` (or all) and tells the other poolers. */
  invalidate(tables: readonly string[] | 'all'): void {
    if (this.closed) return
    if (tables !== 'all' && tables.length === 0) return
    void (async () => {
      await this.run(this.dropCommand(tables))
      await this.run([
        'PUBLISH',
        `${this.prefix}invalidate`,
        `${this.id} ${JSON.stringify(tables)}`,
      ])
    })().catch(() => {
      this.stats.errors++
      this.unflushed = true
    })
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.resubscribeTimer)
    this.vouches = false
    this.sub?.close()
    await this.client.close()
  }
}
