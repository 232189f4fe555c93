/**
 * `startPool()`: the listening pooler. It owns the origin pool, the query cache, the shared
 * prepared-statement names and the sessions, and refreshes stale cache entries in the background.
 */
import tls from 'node:tls'
import { boundedInt, parseListen, parseUpstream } from './config.js'
import { QueryCache, type CacheOptions } from './core/cache.js'
import type { OriginDial } from './core/origin-dial.js'
import type { RedisStore } from './core/redis-store.js'
import { adoptListener, listenFirst } from './core/listener.js'
import { groupPid, ownerOf, type ProcessGroupLink } from './core/processes.js'
import { PoolConfigError } from './errors.js'
import {
  clientCredentials,
  commonSettings,
  openStore,
  running,
  type RunningPool,
} from './core/startup.js'
import { pgOriginPool } from './pg/origin-driver.js'
import { startMysqlPool } from './mysql/pooler.js'
import { makeVerifier } from './pg/scram.js'
import { StatementAnalysis } from './pg/analysis.js'
import { Session, type CacheRequest, type ClientAuth, type Shared } from './pg/session.js'
import { EMPTY_CATALOG, loadCatalog, type CatalogSnapshot } from './pg/catalog.js'
import { DEFAULT_MAX_LAG_MS, WalInvalidator } from './pg/wal.js'

export type { PoolMetrics } from './core/metrics.js'
export type { RunningPool } from './core/startup.js'

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
  /**
   * Set in each process of `wharf pool --processes N` (core/processes.ts): the listening server
   * the primary handed over, and the links to the other processes. `listen` is then unused.
   * Not with `walInvalidation`.
   */
  readonly processGroup?: ProcessGroupLink
}

export async function startPool(options: StartPoolOptions): Promise<RunningPool> {
  // A mysql:// origin gets the MySQL front end (packages/pool/src/mysql/).
  const group = options.processGroup
  if (group && options.walInvalidation)
    throw new PoolConfigError('several processes cannot share one WAL stream (walInvalidation)')
  if (/^mysql:/i.test(options.upstream)) return startMysqlPool(options)
  const { maxMessageBytes, connectTimeoutMs, name, log, limits, ...settings } =
    commonSettings(options)
  let origin = parseUpstream(options.upstream, { connectTimeoutMs, maxMessageBytes })
  if (options.dialOrigin !== undefined) origin = { ...origin, dial: options.dialOrigin }
  const listen = parseListen(options.listen ?? '127.0.0.1:6543')
  const pool = pgOriginPool(origin, limits)
  const { trust, user, password } = clientCredentials(options.auth, listen.host, origin.user)
  const iterations =
    options.auth === 'trust' ? 0 : (options.auth?.iterations ?? (options.auth ? 4096 : 16))
  const auth: ClientAuth = trust
    ? { method: 'trust' }
    : { method: 'scram-sha-256', user, verifier: makeVerifier(password, iterations) }

  const cacheOptions = settings.cache

  // Bound before any origin or Redis connection (see core/listener.ts).
  const clients = group
    ? adoptListener(group.server)
    : await listenFirst(listen, options.listen ?? '127.0.0.1:6543')
  group?.takeHandedOver((socket) => group.server.emit('connection', socket))
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
    try {
      store = await openStore(options.cacheStore, cacheOptions, {
        prefix: 'wharf:pool:',
        upstream: options.upstream,
        log: (line) => log(`[wharf:pool] ${name}: ${line}`),
      })
    } catch (error) {
      await abandon()
      throw error
    }
  }

  const cache = cacheOptions && new QueryCache(cacheOptions, store)
  if (cache && group) {
    cache.onLocalInvalidate = (tables) => group.broadcastInvalidate(tables)
    group.onInvalidate = (tables) => cache.invalidate(tables, true)
  }

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
    analysis: new StatementAnalysis(() => catalog),
    catalog: () => catalog,
    catalogChanged: () => void reloadCatalog(),
    parameters: () => pool.first?.parameters ?? new Map<string, string>(),
    statementNames: new Map(),
    sessions: new Map(),
    newPid: group ? (counter) => groupPid(group.index, counter) : (counter) => counter % 2 ** 31,
    cancel: (pid, secret) => {
      if (group && ownerOf(pid) !== group.index) group.forwardCancel(pid, secret)
      else ready.sessions.get(`${pid}:${secret}`)?.cancel()
    },
    stats: { clients: 0, clientsTotal: 0, refused: 0, cacheServed: 0 },
    refresh: (key, request) => void refresh(key, request),
    log,
  }
  if (group) group.onCancel = (pid, secret) => ready.sessions.get(`${pid}:${secret}`)?.cancel()
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
      conn.write(request.replay())
    })
    if (ok && rows.length > 0 && !cache.changedSince(request.relations, mark))
      cache.set(key, { description, rows: Buffer.concat(rows), relations: request.relations })
    else cache.refreshFailed(key)
  }

  return running({
    name,
    scheme: 'postgres',
    urlSuffix: '?sslmode=disable',
    server,
    user,
    password,
    trust,
    database: origin.database,
    pool,
    cache,
    store,
    stats: ready.stats,
    sessions: () => ready.sessions.values(),
    vouching: () =>
      cache
        ? !cache.suspended &&
          (cache.store?.vouches ?? true) &&
          (cache.vouchedUntil === Number.POSITIVE_INFINITY ||
            performance.now() <= cache.vouchedUntil)
        : true,
    changeStream: () => ({
      enabled: wal !== undefined,
      connected: wal?.stats.connected ?? false,
      commits: wal?.stats.commits ?? 0,
      reconnects: wal?.stats.reconnects ?? 0,
      lagMs: wal ? wal.lagMs() : 0,
      lagging: wal?.stats.lagging ?? 0,
      schemaChanges: wal?.stats.schemaChanges ?? 0,
    }),
    stopping: () => wal?.close(),
    listening: (where) =>
      `[wharf:pool] ${name}: listening on ${where}, origin ${origin.host}:${origin.port}/${origin.database}, ${pool.size} connection(s) warm, cache ${cache ? 'on' : 'off'}`,
    log,
  })
}
