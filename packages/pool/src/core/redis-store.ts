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
import net from 'node:net'
import { PoolConfigError } from '../errors.js'
import type { CachedResult, CacheStore, StoreLookup, StoreToken } from './cache.js'
import { urlHost } from './options.js'
import { decode, encode } from './store-codec.js'

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

type Reply = Buffer | number | null | ReplyError | Reply[]

class ReplyError extends Error {}

/** RESP2 reply parser over a growing buffer; `undefined` means "incomplete, wait for more". */
function parseReply(buf: Buffer, at: number): [Reply, number] | undefined {
  if (at >= buf.length) return undefined
  const eol = buf.indexOf('\r\n', at)
  if (eol < 0) return undefined
  const type = buf[at]
  const line = buf.toString('latin1', at + 1, eol)
  const next = eol + 2
  switch (type) {
    case 0x2b: // +
      return [Buffer.from(line, 'latin1'), next]
    case 0x2d: // -
      return [new ReplyError(line), next]
    case 0x3a: // :
      return [Number(line), next]
    case 0x24: {
      // $
      const len = Number(line)
      if (len < 0) return [null, next]
      if (buf.length < next + len + 2) return undefined
      return [buf.subarray(next, next + len), next + len + 2]
    }
    case 0x2a: {
      // *
      const n = Number(line)
      if (n < 0) return [null, next]
      const items: Reply[] = []
      let pos = next
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, pos)
        if (!r) return undefined
        items.push(r[0])
        pos = r[1]
      }
      return [items, pos]
    }
    default:
      throw new Error(`bad reply type byte ${String(type)} from redis`)
  }
}

function command(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** One connection, replies matched to commands in order; any failure drops it whole. */
class RespConnection {
  private readonly socket: net.Socket
  private buf: Buffer = Buffer.alloc(0)
  private readonly waiting: ((reply: Reply | Error) => void)[] = []
  dead = false
  onPush: ((reply: Reply) => void) | undefined
  /** Called once when the connection is lost (or closed). */
  onDead: (() => void) | undefined

  constructor(
    host: string,
    port: number,
    private readonly maxReplyBytes: number
  ) {
    this.socket = net.connect({ host, port, noDelay: true })
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', () => this.fail(new Error('redis connection error')))
    this.socket.on('close', () => this.fail(new Error('redis connection closed')))
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    if (this.buf.length > this.maxReplyBytes) {
      this.fail(new Error('redis reply too large'))
      return
    }
    try {
      for (;;) {
        const r = parseReply(this.buf, 0)
        if (!r) break
        this.buf = this.buf.subarray(r[1])
        const resolve = this.waiting.shift()
        if (resolve) resolve(r[0])
        else this.onPush?.(r[0])
      }
    } catch (error) {
      this.fail(error as Error)
    }
  }

  private fail(error: Error): void {
    if (this.dead) return
    this.dead = true
    this.socket.destroy()
    for (const resolve of this.waiting.splice(0)) resolve(error)
    this.onDead?.()
  }

  close(): void {
    this.fail(new Error('closed'))
  }

  send(args: readonly (string | Buffer)[], timeoutMs: number): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('redis connection is down'))
    return new Promise((resolve, reject) => {
      // A late reply would answer the wrong command: a timeout drops the connection.
      const timer = setTimeout(() => this.fail(new Error('redis timed out')), timeoutMs)
      this.waiting.push((reply) => {
        clearTimeout(timer)
        if (reply instanceof Error) reject(reply)
        else resolve(reply)
      })
      this.socket.write(command(args))
    })
  }
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

/** The URL as it may appear in a log or an error: its password replaced by `***`. */
export function redactedUrl(text: string): string {
  try {
    const url = new URL(text)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return '(not a URL)'
  }
}

export class RedisStore implements CacheStore {
  private readonly host: string
  private readonly port: number
  private readonly password: string | undefined
  private readonly db: number
  private readonly prefix: string
  private readonly timeoutMs: number
  private readonly maxReplyBytes: number
  private conn: Promise<RespConnection> | undefined
  private sub: RespConnection | undefined
  private closed = false
  /** `refused`: results not stored because a write moved a generation since their lookup. */
  readonly stats = { hits: 0, misses: 0, errors: 0, refused: 0 }
  private readonly id = `${process.pid}-${Math.random().toString(36).slice(2)}`

  constructor(options: SharedStoreOptions) {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw new PoolConfigError('the cache store must be a URL like redis://127.0.0.1:6379')
    }
    if (url.protocol !== 'redis:') {
      throw new PoolConfigError(`the cache store must use redis:// (got ${url.protocol})`)
    }
    this.host = urlHost(url)
    this.port = url.port === '' ? 6379 : Number(url.port)
    this.password = url.password === '' ? undefined : decodeURIComponent(url.password)
    this.db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0
    if (!Number.isInteger(this.db) || this.db < 0 || this.db > 10_000) {
      throw new PoolConfigError(`bad redis database number in ${redactedUrl(options.url)}`)
    }
    this.prefix = options.prefix ?? 'wharf:pool:'
    this.timeoutMs = options.timeoutMs ?? 50
    this.maxReplyBytes = options.maxReplyBytes ?? 16 * 1024 * 1024
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
    await this.connection(2000)
    await this.subscribe()
  }

  private async subscribe(): Promise<void> {
    const sub = new RespConnection(this.host, this.port, this.maxReplyBytes)
    try {
      await this.hello(sub, 2000)
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

  private async hello(conn: RespConnection, timeoutMs: number): Promise<void> {
    if (this.password !== undefined) {
      const r = await conn.send(['AUTH', this.password], timeoutMs)
      if (r instanceof ReplyError) throw new PoolConfigError(`redis refused AUTH: ${r.message}`)
    }
    if (this.db !== 0) await conn.send(['SELECT', String(this.db)], timeoutMs)
  }

  private async connection(timeoutMs: number): Promise<RespConnection> {
    const current = this.conn
    if (current) {
      const c = await current
      if (!c.dead) return c
    }
    const made = (async () => {
      const c = new RespConnection(this.host, this.port, this.maxReplyBytes)
      await this.hello(c, timeoutMs)
      const pong = await c.send(['PING'], timeoutMs)
      if (pong instanceof ReplyError) throw new Error(`redis: ${pong.message}`)
      return c
    })()
    this.conn = made
    made.catch(() => {
      if (this.conn === made) this.conn = undefined
    })
    return made
  }

  private async run(args: readonly (string | Buffer)[], timeoutMs = 2000): Promise<Reply> {
    const c = await this.connection(Math.max(timeoutMs, 1000))
    const r = await c.send(args, timeoutMs)
    if (r instanceof ReplyError) throw r
    return r
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
    const c = this.conn
    this.conn = undefined
    if (c) (await c.catch(() => undefined))?.close()
  }
}
