/**
 * `startPool()`: the listening pooler. It owns the origin pool, the query cache, the shared
 * prepared-statement names and the sessions, and refreshes stale cache entries in the background.
 */
import { randomBytes } from 'node:crypto'
import type net from 'node:net'
import tls from 'node:tls'
import { boundedInt, parseListen, parseUpstream } from './config.js'
import { DEFAULT_CACHE, QueryCache, type CacheOptions } from './core/cache.js'
import type { PoolMetrics } from './core/metrics.js'
import type { OriginDial } from './core/origin-dial.js'
import { RedisStore } from './core/redis-store.js'
import { listenFirst } from './core/listener.js'
import { PoolConfigError } from './errors.js'
import { pgOriginPool } from './pg/origin-driver.js'
import { startMysqlPool } from './mysql/pooler.js'
import { makeVerifier } from './pg/scram.js'
import { Session, type CacheRequest, type ClientAuth, type Shared } from './pg/session.js'
import { EMPTY_CATALOG, loadCatalog, type CatalogSnapshot } from './pg/catalog.js'
import { DEFAULT_MAX_LAG_MS, WalInvalidator } from './pg/wal.js'

export type { PoolMetrics } from './core/metrics.js'

export interface StartPoolOptions {
  /**
   * The origin: `postgres://user:password@host:port/database[?sslmode=...]`, or
   * `mysql://user:password@host:port/database[?ssl-mode=...]` for the MySQL front end.
   */
  readonly upstream: string
  /** Where clients connect: `HOST:PORT` (default `127.0.0.1:6543`; port 0 picks one). */
  readonly listen?: string
  /** A name for logs and metrics (e.g. the binding). */
  readonly name?: string
  /** Origin connections at most (default 10). */
  readonly maxConnections?: number
  /** Clients waiting for a connection at most (default 1000). */
  readonly maxWaiting?: number
  /** How long a client waits for a connection (default 15000 ms, Hyperdrive's). */
  readonly acquireTimeoutMs?: number
  /** Idle origin connections are closed after this (default 600000 ms, Hyperdrive's 10 min). */
  readonly idleTimeoutMs?: number
  /** Connecting to the origin (default 15000 ms). */
  readonly connectTimeoutMs?: number
  /**
   * Reaches the origin another way than TCP to the upstream URL's host and port, for example
   * through a tunnel; the URL still gives the user, password, database and TLS settings.
   */
  readonly dialOrigin?: OriginDial
  /** Query cache settings, or false to disable it. */
  readonly cache?: false | Partial<CacheOptions>
  /**
   * A shared store behind the in-memory cache, so several poolers share results and write
   * invalidations: `{ redis: 'redis://[:password@]127.0.0.1:6379' }`.
   */
  readonly cacheStore?: {
    readonly redis: string
    readonly prefix?: string
    readonly timeoutMs?: number
  }
  /**
   * How clients authenticate. Default: a random password per pooler, checked with SCRAM-SHA-256
   * at a low iteration count (cheap for per-request clients; the password is random and 128-bit,
   * so the count protects nothing). `'trust'` accepts anyone who can connect: loopback only.
   */
  readonly auth?:
    'trust' | { readonly user: string; readonly password: string; readonly iterations?: number }
  /**
   * Invalidation from the origin's WAL (logical replication, pgoutput): every committed change,
   * by any writer, drops the cached results of the tables it touched. Needs `wal_level =
   * logical`, a role with REPLICATION, and the publication (`CREATE PUBLICATION wharf FOR ALL
   * TABLES`). The slot is temporary: PostgreSQL drops it when the pooler goes away. While the
   * stream is down, or more than `maxLagMs` (default 1000) behind the origin's WAL, the cache
   * serves nothing.
   */
  readonly walInvalidation?: { readonly publication: string; readonly maxLagMs?: number }
  /** TLS for clients (PEM); without it, SSLRequest is answered 'N'. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** Largest protocol message accepted from anyone (default 64 MiB). */
  readonly maxMessageBytes?: number
  /** Receives operator log lines (default: none). */
  readonly log?: (line: string) => void
}

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

export async function startPool(options: StartPoolOptions): Promise<RunningPool> {
  // A mysql:// origin gets the MySQL front end (packages/pool/src/mysql/).
  if (/^mysql:/i.test(options.upstream)) return startMysqlPool(options)
  const maxMessageBytes = boundedInt(
    options.maxMessageBytes ?? 64 * 1024 * 1024,
    'maxMessageBytes',
    1024,
    1024 * 1024 * 1024
  )
  let origin = parseUpstream(options.upstream, {
    connectTimeoutMs: boundedInt(
      options.connectTimeoutMs ?? 15_000,
      'connectTimeoutMs',
      100,
      600_000
    ),
    maxMessageBytes,
  })
  if (options.dialOrigin !== undefined) origin = { ...origin, dial: options.dialOrigin }
  const listen = parseListen(options.listen ?? '127.0.0.1:6543')
  const name = options.name ?? 'pool'
  const log = options.log ?? (() => undefined)
  const pool = pgOriginPool(origin, {
    maxConnections: boundedInt(options.maxConnections ?? 10, 'maxConnections', 1, 10_000),
    maxWaiting: boundedInt(options.maxWaiting ?? 1000, 'maxWaiting', 0, 1_000_000),
    acquireTimeoutMs: boundedInt(
      options.acquireTimeoutMs ?? 15_000,
      'acquireTimeoutMs',
      1,
      3_600_000
    ),
    idleTimeoutMs: boundedInt(options.idleTimeoutMs ?? 600_000, 'idleTimeoutMs', 1000, 86_400_000),
  })
  let auth: ClientAuth
  let user: string
  let password: string
  if (options.auth === 'trust') {
    if (!isLoopback(listen.host)) {
      throw new PoolConfigError(
        `trust authentication only on a loopback address (listen is ${listen.host})`
      )
    }
    auth = { method: 'trust' }
    user = origin.user
    password = ''
  } else {
    user = options.auth?.user ?? origin.user
    password = options.auth?.password ?? randomBytes(16).toString('hex')
    const iterations = options.auth?.iterations ?? (options.auth ? 4096 : 16)
    auth = { method: 'scram-sha-256', user, verifier: makeVerifier(password, iterations) }
  }

  const cacheOptions: CacheOptions | undefined =
    options.cache === false
      ? undefined
      : {
          maxAgeMs: boundedInt(
            options.cache?.maxAgeMs ?? DEFAULT_CACHE.maxAgeMs,
            'cache.maxAgeMs',
            0,
            3_600_000
          ),
          staleWhileRevalidateMs: boundedInt(
            options.cache?.staleWhileRevalidateMs ?? DEFAULT_CACHE.staleWhileRevalidateMs,
            'cache.staleWhileRevalidateMs',
            0,
            3_600_000
          ),
          maxBytes: boundedInt(
            options.cache?.maxBytes ?? DEFAULT_CACHE.maxBytes,
            'cache.maxBytes',
            0,
            64 * 1024 ** 3
          ),
          maxEntryBytes: boundedInt(
            options.cache?.maxEntryBytes ?? DEFAULT_CACHE.maxEntryBytes,
            'cache.maxEntryBytes',
            0,
            1024 ** 3
          ),
        }

  // Bound before any origin or Redis connection (see core/listener.ts).
  const clients = await listenFirst(listen, options.listen ?? '127.0.0.1:6543')
  const server = clients.server
  let wal: WalInvalidator | undefined
  const abandon = async (): Promise<void> => {
    wal?.close()
    clients.dropWaiting()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await pool.close()
    await store?.close()
  }

  let store: RedisStore | undefined
  if (cacheOptions && options.cacheStore) {
    store = new RedisStore({
      url: options.cacheStore.redis,
      ...(options.cacheStore.prefix === undefined ? {} : { prefix: options.cacheStore.prefix }),
      ...(options.cacheStore.timeoutMs === undefined
        ? {}
        : {
            timeoutMs: boundedInt(options.cacheStore.timeoutMs, 'cacheStore.timeoutMs', 1, 60_000),
          }),
      maxReplyBytes: cacheOptions.maxEntryBytes + 64 * 1024,
      log: (line) => log(`[wharf:pool] ${name}: ${line}`),
    })
    try {
      await store.start()
    } catch (error) {
      await abandon()
      throw error instanceof PoolConfigError
        ? error
        : new PoolConfigError(
            `cache store ${options.cacheStore.redis}: ${(error as Error).message}`
          )
    }
  }

  const cache = cacheOptions && new QueryCache(cacheOptions, store)

  // One connection now: bad settings fail here, and clients get the origin's parameters.
  let catalog: CatalogSnapshot = EMPTY_CATALOG
  try {
    await pool.warm()
    if (cache) catalog = await loadCatalog(pool)
    if (cache && options.walInvalidation) {
      const walOptions = {
        publication: options.walInvalidation.publication,
        maxLagMs: boundedInt(
          options.walInvalidation.maxLagMs ?? DEFAULT_MAX_LAG_MS,
          'walInvalidation.maxLagMs',
          10,
          3_600_000
        ),
      }
      wal = new WalInvalidator(
        origin,
        walOptions,
        cache,
        () => catalog,
        log,
        () => void reloadCatalog()
      )
      await wal.start()
    }
  } catch (error) {
    await abandon()
    throw error
  }

  const ready: Shared = {
    pool,
    cache,
    auth,
    database: origin.database,
    tls: options.tls
      ? tls.createSecureContext({ key: options.tls.key, cert: options.tls.cert })
      : undefined,
    maxMessageBytes,
    maxBacklogBytes: Math.max(maxMessageBytes, 1024 * 1024),
    startupTimeoutMs: 10_000,
    catalog: () => catalog,
    catalogChanged: () => void reloadCatalog(),
    parameters: () => pool.first?.parameters ?? new Map<string, string>(),
    statementNames: new Map(),
    sessions: new Map(),
    stats: { clients: 0, clientsTotal: 0, refused: 0, cacheServed: 0 },
    refresh: (key, request) => void refresh(key, request),
    log,
  }
  clients.serve((socket) => new Session(socket, ready))

  /**
   * DDL committed through the pooler: take a new catalog snapshot (one at a time; a request
   * during a load runs one more after it). Until it lands, unknown functions count as volatile.
   */
  let catalogLoad: 'idle' | 'loading' | 'again' = 'idle'
  async function reloadCatalog(): Promise<void> {
    if (!cache) return
    if (catalogLoad !== 'idle') {
      catalogLoad = 'again'
      return
    }
    do {
      catalogLoad = 'loading'
      try {
        catalog = await loadCatalog(pool)
      } catch (error) {
        log(`[wharf:pool] ${name}: catalog refresh failed: ${(error as Error).message}`)
      }
    } while ((catalogLoad as string) === 'again')
    catalogLoad = 'idle'
  }

  /** Stale-while-revalidate: re-run the request on a pooled connection and store the result. */
  async function refresh(key: string, request: CacheRequest): Promise<void> {
    if (!cache) return
    let conn
    try {
      conn = await pool.acquire()
    } catch {
      cache.refreshFailed(key)
      return
    }
    const rows: Buffer[] = []
    let description: Buffer | undefined
    let ok = true
    const mark = cache.mark()
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ok = false
        pool.discard(conn)
        resolve()
      }, 30_000)
      conn.onFrame = (frame) => {
        if (frame.type === 'T') description = frame.raw
        else if (frame.type === 'D' || frame.type === 'C') rows.push(frame.raw)
        else if (frame.type === 'E') ok = false
        else if (frame.type === 'Z') {
          clearTimeout(timer)
          if (frame.body[0] !== 0x49) ok = false
          pool.release(conn)
          resolve()
        }
      }
      conn.onLeaseLost = () => {
        clearTimeout(timer)
        ok = false
        resolve()
      }
      conn.write(request.replay)
    })
    if (ok && rows.length > 0 && !cache.changedSince(request.relations, mark))
      cache.set(key, { description, rows: Buffer.concat(rows), relations: request.relations })
    else cache.refreshFailed(key)
  }

  const address = server.address() as net.AddressInfo
  const host = address.address
  const port = address.port
  const hostForUrl = host.includes(':') ? `[${host}]` : host
  const userInfo =
    auth.method === 'trust'
      ? encodeURIComponent(user)
      : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`
  const connectionString = `postgres://${userInfo}@${hostForUrl}:${port}/${encodeURIComponent(origin.database)}?sslmode=disable`
  log(
    `[wharf:pool] ${name}: listening on ${hostForUrl}:${port}, origin ${origin.host}:${origin.port}/${origin.database}, ${pool.size} connection(s) warm, cache ${cache ? 'on' : 'off'}`
  )

  const metrics = (): PoolMetrics => ({
    name,
    clients: ready.stats.clients,
    clientsTotal: ready.stats.clientsTotal,
    originConnections: pool.size,
    originIdle: pool.idleCount,
    waitingClients: pool.waiting,
    leases: pool.stats.leases,
    originCreated: pool.stats.created,
    originFailed: pool.stats.failed,
    resets: pool.stats.resets,
    acquireTimeouts: pool.stats.waitedTooLong,
    refused: ready.stats.refused,
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
      vouching: cache
        ? !cache.suspended &&
          (cache.store?.vouches ?? true) &&
          (cache.vouchedUntil === Number.POSITIVE_INFINITY ||
            performance.now() <= cache.vouchedUntil)
        : true,
    },
    changeStream: {
      enabled: wal !== undefined,
      connected: wal?.stats.connected ?? false,
      commits: wal?.stats.commits ?? 0,
      reconnects: wal?.stats.reconnects ?? 0,
      lagMs: wal ? wal.lagMs() : 0,
      lagging: wal?.stats.lagging ?? 0,
      schemaChanges: wal?.stats.schemaChanges ?? 0,
    },
  })

  return {
    connectionString,
    host,
    port,
    user,
    password,
    database: origin.database,
    metrics,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const session of [...ready.sessions.values()]) session.close()
      })
      wal?.close()
      await pool.close()
      await store?.close()
    },
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
