/**
 * `startPool()` for a `mysql://` upstream: the listening MySQL pooler. It is a front end over
 * the pool's protocol-neutral core (core/): the origin pool and its limits, the query cache and
 * its Redis store, the metrics. This file brings the MySQL `OriginDriver`.
 */
import { readFileSync } from 'node:fs'
import tls from 'node:tls'
import { parseListen, urlHost } from '../config.js'
import { QueryCache } from '../core/cache.js'
import { OriginPool, type OriginDriver } from '../core/origin-pool.js'
import type { RedisStore } from '../core/redis-store.js'
import { adoptListener, listenFirst } from '../core/listener.js'
import { groupPid, ownerOf } from '../core/processes.js'
import { clientCredentials, commonSettings, openStore, running } from '../core/startup.js'
import { PoolConfigError } from '../errors.js'
import type { RunningPool, StartPoolOptions } from '../pooler.js'
import { rsaKeys, type AuthPlugin } from './auth.js'
import { MysqlOrigin, type MysqlOriginOptions, type SslMode } from './origin.js'
import { COM, frame } from './packets.js'
import {
  MysqlSession,
  preparedKey,
  resultFrom,
  type MysqlCacheRequest,
  type MysqlClientAuth,
  type MysqlShared,
} from './session.js'

export interface MysqlPoolOptions extends StartPoolOptions {
  /** Auth methods clients may use; the first is offered (default both, caching_sha2 first). */
  readonly authPlugins?: readonly AuthPlugin[]
}

const SSL_MODES: Record<string, SslMode> = {
  disabled: 'disabled',
  disable: 'disabled',
  preferred: 'preferred',
  prefer: 'preferred',
  required: 'required',
  require: 'required',
  verify_ca: 'verify_ca',
  'verify-ca': 'verify_ca',
  verify_identity: 'verify_identity',
  'verify-full': 'verify_identity',
}

/** `mysql://user:password@host:port/database?ssl-mode=REQUIRED&ssl-ca=FILE`. */
export function parseMysqlUpstream(
  upstream: string,
  defaults: { connectTimeoutMs: number; maxPacketBytes: number }
): MysqlOriginOptions {
  let url: URL
  try {
    url = new URL(upstream)
  } catch {
    throw new PoolConfigError(
      'the upstream must be a URL like mysql://user:password@host:3306/database'
    )
  }
  if (url.protocol !== 'mysql:') {
    throw new PoolConfigError(`the upstream must use mysql:// (got ${url.protocol})`)
  }
  const host = urlHost(url)
  if (host === '') throw new PoolConfigError('the upstream URL has no host')
  const user = decodeURIComponent(url.username)
  if (user === '') throw new PoolConfigError('the upstream URL has no user')
  const mode = (
    url.searchParams.get('ssl-mode') ??
    url.searchParams.get('sslmode') ??
    'preferred'
  ).toLowerCase()
  const sslMode = SSL_MODES[mode]
  if (sslMode === undefined) {
    throw new PoolConfigError(
      `unknown ssl-mode "${mode}" (DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)`
    )
  }
  const caFile = url.searchParams.get('ssl-ca') ?? url.searchParams.get('sslrootcert')
  let ca: string | undefined
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8')
    } catch (error) {
      throw new PoolConfigError(`ssl-ca ${caFile}: ${(error as Error).message}`)
    }
  }
  return {
    host,
    port: url.port === '' ? 3306 : Number(url.port),
    user,
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    sslMode,
    ...(ca === undefined ? {} : { ca }),
    connectTimeoutMs: defaults.connectTimeoutMs,
    maxPacketBytes: defaults.maxPacketBytes,
  }
}

export async function startMysqlPool(options: MysqlPoolOptions): Promise<RunningPool> {
  const settings = commonSettings(options)
  const { connectTimeoutMs, name, log, limits } = settings
  const maxPacketBytes = settings.maxMessageBytes
  const parsed = parseMysqlUpstream(options.upstream, { connectTimeoutMs, maxPacketBytes })
  const origin = options.dialOrigin === undefined ? parsed : { ...parsed, dial: options.dialOrigin }
  const listen = parseListen(options.listen ?? '127.0.0.1:3306')
  const pool = new OriginPool<MysqlOrigin>(mysqlDriver(origin), limits)
  const cacheOptions = settings.cache

  const plugins: readonly AuthPlugin[] = options.authPlugins ?? [
    'caching_sha2_password',
    'mysql_native_password',
  ]
  for (const p of plugins) {
    if (p !== 'caching_sha2_password' && p !== 'mysql_native_password') {
      throw new PoolConfigError(`authPlugins: unknown plugin ${String(p)}`)
    }
  }
  if (plugins.length === 0) throw new PoolConfigError('authPlugins must name at least one plugin')
  const { trust, user, password } = clientCredentials(options.auth, listen.host, origin.user)
  const auth: MysqlClientAuth = trust
    ? { method: 'trust' }
    : { method: 'password', user, password, plugins }

  // Bound before any origin or Redis connection (see core/listener.ts).
  const group = options.processGroup
  const clients = group
    ? adoptListener(group.server)
    : await listenFirst(listen, options.listen ?? '127.0.0.1:3306')
  group?.takeHandedOver((socket) => group.server.emit('connection', socket))
  const server = clients.server
  let store: RedisStore | undefined
  const abandon = async (): Promise<void> => {
    clients.dropWaiting()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await pool.close()
    await store?.close()
  }

  if (cacheOptions && options.cacheStore) {
    try {
      store = await openStore(options.cacheStore, cacheOptions, {
        prefix: 'wharf:pool:mysql:',
        upstream: options.upstream,
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
  // Made while the origin connection opens, not before it.
  const rsa = rsaKeys()
  rsa.catch(() => undefined)

  // One connection now: bad settings fail here, and clients are told the origin's version.
  let first: MysqlOrigin
  let rsaPair: Awaited<typeof rsa>
  try {
    await pool.warm()
    if (!pool.first) throw new PoolConfigError('the origin pool opened no connection')
    first = pool.first
    rsaPair = await rsa
  } catch (error) {
    await abandon()
    throw error
  }

  const shared: MysqlShared = {
    pool,
    cache,
    auth,
    rsa: rsaPair,
    database: origin.database,
    serverVersion: first.serverVersion,
    tls: options.tls
      ? tls.createSecureContext({ key: options.tls.key, cert: options.tls.cert })
      : undefined,
    maxPacketBytes,
    startupTimeoutMs: 10_000,
    sha2Cache: new Set(),
    // In a process group, the process's index is in each id: no two clients share one.
    connectionId: group ? (n) => groupPid(group.index, n) : (n) => n % 2 ** 31,
    sessions: new Set(),
    kill: async (id, query) => {
      const local = findSession(id)
      if (local) {
        await local.killedBy(query)
        return true
      }
      const owner = ownerOf(id)
      if (!group || owner === group.index || owner >= group.count) return false
      // Another process's client: passed on; whether it still exists is that process's to see.
      group.forwardKill(id, query)
      return true
    },
    killOriginQuery,
    stats: { clients: 0, clientsTotal: 0, refused: 0 },
    refresh: (key, request) => void refresh(key, request),
    log,
  }

  if (group) group.onKill = (id, query) => void findSession(id)?.killedBy(query)

  function findSession(id: number): MysqlSession | undefined {
    for (const session of shared.sessions) if (session.connectionId === id) return session
    return undefined
  }

  async function killOriginQuery(thread: number): Promise<void> {
    let conn: MysqlOrigin | undefined
    try {
      conn = await pool.acquire()
      const result = await conn.command(
        Buffer.concat([Buffer.from([COM.QUERY]), Buffer.from(`KILL QUERY ${thread}`)]),
        'ok',
        undefined,
        5000
      )
      if (result.error) log(`[wharf:pool] ${name}: KILL QUERY ${thread}: ${result.error.message}`)
    } catch (error) {
      log(`[wharf:pool] ${name}: KILL QUERY ${thread}: ${(error as Error).message}`)
    } finally {
      if (conn) pool.release(conn)
    }
  }

  /** Stale-while-revalidate: re-runs a cached request on a pooled connection. */
  async function refresh(key: string, request: MysqlCacheRequest): Promise<void> {
    if (!cache) return
    let conn: MysqlOrigin | undefined
    const mark = cache.mark()
    try {
      conn = await pool.acquire()
      if (conn.database !== request.database && !(await conn.useDatabase(request.database))) {
        throw new Error('cannot select the database')
      }
      let payload: Buffer
      const statementKey = preparedKey(request.database, request.text)
      const have = conn.prepared.get(statementKey)
      if (request.execute && have) {
        const head = Buffer.alloc(5)
        head[0] = COM.STMT_EXECUTE
        head.writeUInt32LE(have.id, 1)
        payload = Buffer.concat([head, request.execute])
      } else if (request.execute) {
        const prepare = await conn.command(
          Buffer.concat([Buffer.from([COM.STMT_PREPARE]), Buffer.from(request.text)]),
          'prepare',
          undefined,
          30_000
        )
        if (!prepare.prepared) throw new Error('prepare failed')
        const head = Buffer.alloc(5)
        head[0] = COM.STMT_EXECUTE
        head.writeUInt32LE(prepare.prepared.id, 1)
        payload = Buffer.concat([head, request.execute])
        conn.prepared.set(statementKey, prepare.prepared)
      } else payload = Buffer.concat([Buffer.from([COM.QUERY]), Buffer.from(request.text)])
      const bytes: Buffer[] = []
      let seq = 1
      let size = 0
      const result = await conn.command(
        payload,
        request.execute ? 'execute' : 'query',
        (packet) => {
          const f = frame(packet, seq)
          seq = f.next
          for (const b of f.bytes) {
            size += b.length
            if (size <= cache.options.maxEntryBytes) bytes.push(Buffer.from(b))
          }
        },
        30_000
      )
      if (result.error || size > cache.options.maxEntryBytes) throw new Error('not stored')
      // A write heard meanwhile: the rows may predate it.
      if (cache.changedSince(request.tables, mark)) throw new Error('not stored')
      cache.set(key, resultFrom(bytes, request.tables))
    } catch {
      cache.refreshFailed(key)
    } finally {
      if (conn) pool.release(conn)
    }
  }

  clients.serve((socket) => new MysqlSession(socket, shared))
  return running({
    name,
    scheme: 'mysql',
    urlSuffix: '',
    server,
    user,
    password,
    trust,
    database: origin.database,
    pool,
    cache,
    store,
    stats: shared.stats,
    sessions: () => shared.sessions,
    // No WAL on this side: the cache vouches unless it is suspended.
    vouching: () => (cache ? !cache.suspended : true),
    // The origin change stream (WAL) exists on the Postgres side only.
    changeStream: () => ({
      enabled: false,
      connected: false,
      commits: 0,
      reconnects: 0,
      lagMs: 0,
      lagging: 0,
      schemaChanges: 0,
    }),
    listening: (where) =>
      `[wharf:pool] ${name}: MySQL, listening on ${where}, origin ${origin.host}:${origin.port}/${origin.database} (${first.serverVersion}), cache ${cache ? 'on' : 'off'}`,
    log,
  })
}

/** The MySQL half of the origin pool: open, COM_RESET_CONNECTION, ROLLBACK (no out-of-band cancel). */
function mysqlDriver(origin: MysqlOriginOptions): OriginDriver<MysqlOrigin> {
  const settle = (p: Promise<boolean>, done: (ok: boolean) => void): void => {
    p.then(done, () => done(false))
  }
  return {
    open: () => MysqlOrigin.open(origin),
    detach: () => undefined,
    reset: (conn, done) => settle(conn.reset(), done),
    // COM_RESET_CONNECTION rolls back too, and leaves no session state behind.
    rollback: (conn, done) => settle(conn.reset(), done),
    // MySQL cancels with KILL QUERY on another connection; clients do that themselves.
    cancel: () => undefined,
  }
}
