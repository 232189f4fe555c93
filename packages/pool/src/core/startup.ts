/**
 * The start-up steps both front ends (PostgreSQL in pooler.ts, MySQL in mysql/pooler.ts) share:
 * checking the common options, opening the shared cache store, and, once serving, the
 * `RunningPool` handle with its connection string, metrics and close.
 */
import { createHash, randomBytes } from 'node:crypto'
import type net from 'node:net'
import { PoolConfigError } from '../errors.js'
import { DEFAULT_CACHE, type CacheOptions, type QueryCache } from './cache.js'
import type { PoolMetrics } from './metrics.js'
import { boundedInt } from './options.js'
import type { OriginPool, PoolLimits, PooledConnection } from './origin-pool.js'
import { RedisStore, redactedUrl, type SharedStoreOptions } from './redis-store.js'

/** The options of `startPool()` (pooler.ts) that both front ends take. */
export interface CommonOptions {
  readonly maxMessageBytes?: number
  readonly connectTimeoutMs?: number
  readonly name?: string
  readonly log?: (line: string) => void
  readonly maxConnections?: number
  readonly maxWaiting?: number
  readonly acquireTimeoutMs?: number
  readonly idleTimeoutMs?: number
  readonly cache?: false | Partial<CacheOptions>
}

/** `startPool()`'s `cacheStore` option. */
export interface CacheStoreOption {
  readonly redis: string
  readonly prefix?: string
  readonly timeoutMs?: number
}

/** What `startPool()` returns, whichever front end runs. */
export interface RunningPool {
  /** What a driver needs (Hyperdrive's binding fields). */
  readonly connectionString: string
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
  metrics(): PoolMetrics
  close(): Promise<void>
}

/** The options both front ends take, checked (a bad one is a PoolConfigError naming it). */
export interface CommonSettings {
  readonly maxMessageBytes: number
  readonly connectTimeoutMs: number
  readonly name: string
  readonly log: (line: string) => void
  readonly limits: PoolLimits
  /** Undefined when the cache is off. */
  readonly cache: CacheOptions | undefined
}

export function commonSettings(options: CommonOptions): CommonSettings {
  const c = options.cache
  return {
    maxMessageBytes: boundedInt(
      options.maxMessageBytes ?? 64 * 1024 * 1024,
      'maxMessageBytes',
      1024,
      1024 * 1024 * 1024
    ),
    connectTimeoutMs: boundedInt(
      options.connectTimeoutMs ?? 15_000,
      'connectTimeoutMs',
      100,
      600_000
    ),
    name: options.name ?? 'pool',
    log: options.log ?? (() => undefined),
    limits: {
      maxConnections: boundedInt(options.maxConnections ?? 10, 'maxConnections', 1, 10_000),
      maxWaiting: boundedInt(options.maxWaiting ?? 1000, 'maxWaiting', 0, 1_000_000),
      acquireTimeoutMs: boundedInt(
        options.acquireTimeoutMs ?? 15_000,
        'acquireTimeoutMs',
        1,
        3_600_000
      ),
      idleTimeoutMs: boundedInt(
        options.idleTimeoutMs ?? 600_000,
        'idleTimeoutMs',
        1000,
        86_400_000
      ),
    },
    cache:
      c === false
        ? undefined
        : {
            maxAgeMs: boundedInt(
              c?.maxAgeMs ?? DEFAULT_CACHE.maxAgeMs,
              'cache.maxAgeMs',
              0,
              3_600_000
            ),
            staleWhileRevalidateMs: boundedInt(
              c?.staleWhileRevalidateMs ?? DEFAULT_CACHE.staleWhileRevalidateMs,
              'cache.staleWhileRevalidateMs',
              0,
              3_600_000
            ),
            maxBytes: boundedInt(
              c?.maxBytes ?? DEFAULT_CACHE.maxBytes,
              'cache.maxBytes',
              0,
              64 * 1024 ** 3
            ),
            maxEntryBytes: boundedInt(
              c?.maxEntryBytes ?? DEFAULT_CACHE.maxEntryBytes,
              'cache.maxEntryBytes',
              0,
              1024 ** 3
            ),
          },
  }
}

/**
 * What the default store prefix scopes results to: the origin's scheme, user, host, port and
 * database (never the password). Cache keys hash only the request, so poolers of two databases
 * sharing one Redis under one prefix would answer each other's queries; by default they do not.
 */
export function originScope(upstream: string): string {
  let identity = upstream
  try {
    const url = new URL(upstream)
    identity = `${url.protocol}//${url.username}@${url.hostname}:${url.port}${url.pathname}`
  } catch {
    // Not a URL: the pooler refuses it elsewhere; hash the text as it is.
  }
  return createHash('sha256').update(identity).digest('hex').slice(0, 16)
}

/**
 * Connects the shared cache store (`cacheStore`), or fails with a PoolConfigError naming it. A
 * store that did not start is closed here. Without `cacheStore.prefix`, the prefix is
 * `extra.prefix` and the origin's scope (originScope).
 */
export async function openStore(
  cacheStore: CacheStoreOption,
  cache: CacheOptions,
  extra: Pick<SharedStoreOptions, 'log'> & { readonly prefix: string; readonly upstream: string }
): Promise<RedisStore> {
  const prefix = cacheStore.prefix ?? `${extra.prefix}${originScope(extra.upstream)}:`
  const store = new RedisStore({
    url: cacheStore.redis,
    prefix,
    ...(cacheStore.timeoutMs === undefined
      ? {}
      : { timeoutMs: boundedInt(cacheStore.timeoutMs, 'cacheStore.timeoutMs', 1, 60_000) }),
    maxReplyBytes: cache.maxEntryBytes + 64 * 1024,
    ...(extra.log === undefined ? {} : { log: extra.log }),
  })
  try {
    await store.start()
  } catch (error) {
    await store.close()
    throw error instanceof PoolConfigError
      ? error
      : new PoolConfigError(
          `cache store ${redactedUrl(cacheStore.redis)}: ${(error as Error).message}`
        )
  }
  return store
}

/** Who clients log in as: `trust` (loopback only), or a user and password (random by default). */
export function clientCredentials(
  auth: 'trust' | { readonly user: string; readonly password: string } | undefined,
  listenHost: string,
  originUser: string
): { readonly trust: boolean; readonly user: string; readonly password: string } {
  if (auth === 'trust') {
    if (!isLoopback(listenHost)) {
      throw new PoolConfigError(
        `trust authentication only on a loopback address (listen is ${listenHost})`
      )
    }
    return { trust: true, user: originUser, password: '' }
  }
  return {
    trust: false,
    user: auth?.user ?? originUser,
    password: auth?.password ?? randomBytes(16).toString('hex'),
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

/** What `running()` needs of a front end that has started serving. */
export interface Serving {
  readonly name: string
  /** `postgres` or `mysql`, and what follows the database in the URL (`?sslmode=disable`). */
  readonly scheme: string
  readonly urlSuffix: string
  readonly server: net.Server
  readonly user: string
  readonly password: string
  /** Clients need no password (`auth: 'trust'`): the URL carries none. */
  readonly trust: boolean
  readonly database: string
  readonly pool: Pick<
    OriginPool<PooledConnection>,
    'size' | 'idleCount' | 'waiting' | 'stats' | 'close'
  >
  readonly cache: QueryCache | undefined
  readonly store: { close(): Promise<void> } | undefined
  readonly stats: {
    readonly clients: number
    readonly clientsTotal: number
    readonly refused: number
  }
  /** The open client sessions, closed by `close()`. */
  sessions(): Iterable<{ close(): void }>
  /** Whether the cache may serve (see PoolMetrics.cache.vouching). */
  vouching(): boolean
  changeStream(): PoolMetrics['changeStream']
  /** Called first on close (e.g. the WAL stream). */
  stopping?(): void
  /** The start-up log line, given where clients connect (`host:port`, IPv6 in brackets). */
  listening(where: string): string
  readonly log: (line: string) => void
}

/** The handle `startPool()` returns, once the front end serves. */
export function running(s: Serving): RunningPool {
  const address = s.server.address() as net.AddressInfo
  const host = address.address
  const port = address.port
  const hostForUrl = host.includes(':') ? `[${host}]` : host
  const userInfo = s.trust
    ? encodeURIComponent(s.user)
    : `${encodeURIComponent(s.user)}:${encodeURIComponent(s.password)}`
  const connectionString = `${s.scheme}://${userInfo}@${hostForUrl}:${port}/${encodeURIComponent(s.database)}${s.urlSuffix}`
  s.log(s.listening(`${hostForUrl}:${port}`))
  const { pool, cache } = s
  const metrics = (): PoolMetrics => ({
    name: s.name,
    clients: s.stats.clients,
    clientsTotal: s.stats.clientsTotal,
    originConnections: pool.size,
    originIdle: pool.idleCount,
    waitingClients: pool.waiting,
    leases: pool.stats.leases,
    originCreated: pool.stats.created,
    originFailed: pool.stats.failed,
    resets: pool.stats.resets,
    acquireTimeouts: pool.stats.waitedTooLong,
    refused: s.stats.refused,
    cache: {
      enabled: cache !== undefined,
      entries: cache?.size ?? 0,
      bytes: cache?.storedBytes ?? 0,
      hits: cache?.stats.hits ?? 0,
      staleHits: cache?.stats.staleHits ?? 0,
      misses: cache?.stats.misses ?? 0,
      stores: cache?.stats.stores ?? 0,
      evictions: cache?.stats.evictions ?? 0,
      invalidations: cache?.stats.invalidations ?? 0,
      vouching: s.vouching(),
    },
    changeStream: s.changeStream(),
  })
  return {
    connectionString,
    host,
    port,
    user: s.user,
    password: s.password,
    database: s.database,
    metrics,
    async close() {
      await new Promise<void>((resolve) => {
        s.server.close(() => resolve())
        for (const session of [...s.sessions()]) session.close()
      })
      s.stopping?.()
      await pool.close()
      await s.store?.close()
    },
  }
}
