/**
 * `hyperdrive` bindings: each one gets an in-process `@wharf/pool` pooler on loopback, and the
 * Worker's `env.<BINDING>` points at it. The connection string comes from
 * CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING> (wrangler's precedence), the deprecated
 * WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING>, or `localConnectionString`.
 *
 * A binding whose origin is down at start still gets its address: a small front on loopback that
 * answers each connection with a PostgreSQL error naming the cause, and tries the origin again
 * (at most once a second) when a client connects. Once the origin answers, the pooler starts and
 * the front forwards connections to it; the Worker's binding never changes.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { isAbsolute, relative } from 'node:path'
import { unbracketHost } from '@wharf/sockets/runtime'
import type { EmbeddedSettings, HyperdriveBinding, HyperdriveCaching } from './config.js'
import { startEmbeddedPostgres } from './embedded-postgres.js'
import type { PoolMetrics } from '@wharf/pool'
import {
  WharfEmbeddedDbError,
  WharfHyperdriveConfigError,
  WharfHyperdriveStartError,
} from './errors.js'
import { probeOrigin, type ProbeStartup } from './hyperdrive-probe.js'

/** The user and database a StartupMessage to the origin names (PostgreSQL's defaults otherwise). */
function probeStartup(connectionString: string): ProbeStartup {
  try {
    const url = new URL(connectionString)
    const user = decodeURIComponent(url.username) || 'postgres'
    const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || user
    return { user, database }
  } catch {
    // A malformed escape: the names only need to make a server answer.
    return { user: 'postgres', database: 'postgres' }
  }
}
import type { HyperdriveInfo } from './protocol.js'

export interface StartedBinding {
  readonly binding: string
  readonly info?: HyperdriveInfo
  readonly error?: string
  /** The in-process pooler's figures (for `wharf serve`'s /metrics), once it runs. */
  metrics?(): PoolMetrics | undefined
  close(): Promise<void>
}

type Log = (line: string) => void
/**
 * How a binding's origin is reached when it is not TCP to the URL's host: a tunnel flow to a
 * VPC service. Its host and port replace the URL's, so logs name the real target.
 */
export interface OriginRoute {
  readonly host: string
  readonly port: number
  /** For logs, e.g. `VPC service db (tunnel office)`. */
  readonly description: string
  dial(signal: AbortSignal): Promise<net.Socket>
}

/** The upstream URL with the route's host and port in place of its own. */
function routedUpstream(upstream: string, route: OriginRoute | undefined): string {
  if (route === undefined) return upstream
  const url = new URL(upstream)
  url.hostname = route.host.includes(':') ? `[${route.host}]` : route.host
  url.port = String(route.port)
  return url.toString()
}

const RETRY_MS = 1000
const MAX_FRONT_CONNECTIONS = 1000
const STARTUP_BYTES = 64 * 1024

/** The binding's configured connection string, or undefined when none is (wrangler's order). */
export function configuredConnectionString(
  binding: Pick<HyperdriveBinding, 'binding' | 'localConnectionString'>,
  envVars: NodeJS.ProcessEnv = process.env
): string | undefined {
  const current = envVars[`CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding}`]
  if (current !== undefined && current !== '') return checkScheme(binding.binding, current)
  const old = envVars[`WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding}`]
  if (old !== undefined && old !== '') {
    process.stderr.write(
      `[wharf:warn] WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding} is deprecated; use CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding}\n`
    )
    return checkScheme(binding.binding, old)
  }
  return binding.localConnectionString
}

/** The configured connection string; none is ERR_WHARF_HYPERDRIVE_CONFIG. */
export function hyperdriveConnectionString(
  binding: Pick<HyperdriveBinding, 'binding' | 'localConnectionString'>,
  envVars: NodeJS.ProcessEnv = process.env
): string {
  const configured = configuredConnectionString(binding, envVars)
  if (configured !== undefined) return configured
  throw new WharfHyperdriveConfigError(
    `hyperdrive binding "${binding.binding}" has no local connection string: set CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding} or "localConnectionString" in the config`
  )
}

function checkScheme(binding: string, url: string): string {
  if (!/^(postgres(ql)?|mysql):\/\//i.test(url)) {
    throw new WharfHyperdriveConfigError(
      `hyperdrive binding "${binding}": the connection string must be a postgres://, postgresql:// or mysql:// URL`
    )
  }
  return url
}

/** The pooler's cache options for a binding's caching settings. */
export function cacheOptions(
  caching: HyperdriveCaching
): false | { maxAgeMs: number; staleWhileRevalidateMs: number } {
  if (caching.disabled) return false
  return {
    maxAgeMs: caching.maxAge * 1000,
    staleWhileRevalidateMs: caching.staleWhileRevalidate * 1000,
  }
}

function describeCaching(caching: HyperdriveCaching): string {
  return caching.disabled
    ? 'query cache off'
    : `query cache on (max_age ${caching.maxAge}s, stale_while_revalidate ${caching.staleWhileRevalidate}s)`
}

/**
 * The pooler's shared store and WAL invalidation for a binding: `wharf.hyperdrive.<BINDING>
 * .cache_store` (its Redis URL overridden by WHARF_HYPERDRIVE_CACHE_REDIS_<BINDING>, so the
 * password can stay out of the config) and `.wal_invalidation`. Nothing when caching is off.
 */
export function sharedCacheOptions(
  binding: HyperdriveBinding,
  envVars: NodeJS.ProcessEnv = process.env
): {
  cacheStore?: { redis: string; prefix?: string }
  walInvalidation?: { publication: string; maxLagMs?: number }
} {
  if (binding.caching.disabled) return {}
  const fromEnv = envVars[`WHARF_HYPERDRIVE_CACHE_REDIS_${binding.binding}`]
  const redis = fromEnv !== undefined && fromEnv !== '' ? fromEnv : binding.cacheStore?.redis
  if (redis !== undefined && !/^redis:\/\/\S+$/.test(redis)) {
    throw new WharfHyperdriveConfigError(
      `hyperdrive binding "${binding.binding}": WHARF_HYPERDRIVE_CACHE_REDIS_${binding.binding} must be a redis:// URL`
    )
  }
  const prefix = binding.cacheStore?.prefix
  return {
    ...(redis === undefined
      ? {}
      : { cacheStore: { redis, ...(prefix === undefined ? {} : { prefix }) } }),
    ...(binding.walInvalidation === undefined ? {} : { walInvalidation: binding.walInvalidation }),
  }
}

/** The start-up line's words for the shared store and the WAL, or ''. */
function describeShared(shared: ReturnType<typeof sharedCacheOptions>): string {
  const parts: string[] = []
  if (shared.cacheStore) parts.push('shared through Redis')
  if (shared.walInvalidation)
    parts.push(`invalidated from the WAL (publication ${shared.walInvalidation.publication})`)
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`
}

/** A PostgreSQL ErrorResponse (FATAL, SQLSTATE 08006) for a client of a binding that is down. */
function errorResponse(message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from('SFATAL\0VFATAL\0C08006\0'),
    Buffer.from(`M${message.slice(0, 1000)}\0`),
    Buffer.from('\0'),
  ])
  const head = Buffer.alloc(5)
  head[0] = 0x45
  head.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([head, fields])
}

interface Pool {
  readonly port: number
  metrics(): PoolMetrics
  close(): Promise<void>
}

/**
 * A MySQL binding: the pooler's MySQL front end, started directly (the down-origin front and the
 * SSLRequest probe speak PostgreSQL). A pooler that cannot start leaves a failing binding.
 */
async function startMysql(
  binding: HyperdriveBinding,
  upstream: string,
  log: Log,
  route: OriginRoute | undefined
): Promise<StartedBinding> {
  const { startPool } = await import('@wharf/pool')
  const shared = sharedCacheOptions(binding)
  if (shared.walInvalidation) {
    throw new WharfHyperdriveConfigError(
      `hyperdrive binding "${binding.binding}": wharf.hyperdrive.${binding.binding}.wal_invalidation needs a PostgreSQL origin (logical replication)`
    )
  }
  try {
    const pool = await startPool({
      upstream,
      listen: '127.0.0.1:0',
      name: binding.binding,
      cache: cacheOptions(binding.caching),
      ...shared,
      ...(route === undefined ? {} : { dialOrigin: (signal: AbortSignal) => route.dial(signal) }),
    })
    log(
      `[wharf:info] hyperdrive binding ${binding.binding}: MySQL pooler on 127.0.0.1:${pool.port}, ${describeCaching(binding.caching)}${describeShared(shared)}`
    )
    const { connectionString, host, port, user, password, database } = pool
    return {
      binding: binding.binding,
      info: { connectionString, host, port, user, password, database },
      metrics: () => pool.metrics(),
      close: () => pool.close(),
    }
  } catch (error) {
    const failed = new WharfHyperdriveStartError(
      binding.binding,
      `hyperdrive binding ${binding.binding}: the MySQL pooler`,
      error
    )
    log(`[wharf:error] ${failed.code}: ${failed.message}`)
    const message = (error as Error).message
    return { binding: binding.binding, error: message, close: () => Promise.resolve() }
  }
}

/** One line per request the cache answered, so a reader sees the second request is cached. */
function cacheHitLines(binding: string, pool: Pool, log: Log): NodeJS.Timeout {
  let seen = 0
  const timer = setInterval(() => {
    const { hits, staleHits } = pool.metrics().cache
    if (hits + staleHits > seen) {
      log(
        `[wharf:hyperdrive] ${binding}: ${hits + staleHits - seen} query result(s) served from the cache`
      )
      seen = hits + staleHits
    }
  }, 200)
  timer.unref()
  return timer
}

/** Where a path is, as short as it is clear: relative to the working directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel
}

/**
 * A binding with no connection string in `wharf dev`: an embedded PostgreSQL (PGlite), with the
 * pooler in front of it as for any origin. PGlite is one session, so the pooler keeps exactly one
 * origin connection, held for the day (the socket server takes one client: holding the slot
 * keeps other local processes out of it).
 */
async function startEmbedded(
  binding: HyperdriveBinding,
  settings: EmbeddedSettings,
  projectDir: string,
  log: Log
): Promise<StartedBinding> {
  log(
    `[wharf:info] hyperdrive binding ${binding.binding}: no connection string configured; starting an embedded PostgreSQL (PGlite), data in ${shown(settings.dataDir)}`
  )
  if (binding.cacheStore !== undefined || binding.walInvalidation !== undefined) {
    throw new WharfHyperdriveConfigError(
      `hyperdrive binding "${binding.binding}": cache_store and wal_invalidation need a real origin; the embedded PostgreSQL is this machine's alone (set CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding} or "localConnectionString")`
    )
  }
  const db = await startEmbeddedPostgres(settings, projectDir)
  const user = 'wharf'
  const password = randomBytes(16).toString('hex')
  const { startPool } = await import('@wharf/pool')
  let pool: Pool
  try {
    pool = await startPool({
      upstream: db.connectionString,
      listen: '127.0.0.1:0',
      name: binding.binding,
      cache: cacheOptions(binding.caching),
      maxConnections: 1,
      idleTimeoutMs: 86_400_000,
      auth: { user, password, iterations: 16 },
    })
  } catch (error) {
    await db.close()
    throw new WharfEmbeddedDbError(
      `the pooler did not start in front of it: ${(error as Error).message}`,
      { cause: error }
    )
  }
  const seeded = settings.seed === undefined ? '' : `, seeded from ${shown(settings.seed)}`
  log(
    `[wharf:info] hyperdrive binding ${binding.binding}: embedded PostgreSQL ready in ${db.ms} ms (${db.created ? `new database${seeded}` : 'existing database'}); pooler on 127.0.0.1:${pool.port}, ${describeCaching(binding.caching)}`
  )
  const watch = cacheHitLines(binding.binding, pool, log)
  return {
    binding: binding.binding,
    info: {
      connectionString: `postgres://${user}:${password}@127.0.0.1:${pool.port}/postgres?sslmode=disable`,
      host: '127.0.0.1',
      port: pool.port,
      user,
      password,
      database: 'postgres',
    },
    metrics: () => pool.metrics(),
    close: async () => {
      clearInterval(watch)
      await pool.close()
      await db.close()
    },
  }
}

async function startOne(
  binding: HyperdriveBinding,
  log: Log,
  route: OriginRoute | undefined,
  options: HyperdriveOptions
): Promise<StartedBinding> {
  const configured = configuredConnectionString(binding)
  // A VPC-service origin still needs a connection string (user, password, database).
  if (
    configured === undefined &&
    route === undefined &&
    options.projectDir !== undefined &&
    binding.embedded !== false
  ) {
    return startEmbedded(binding, binding.embedded, options.projectDir, log)
  }
  let upstream = configured ?? hyperdriveConnectionString(binding)
  try {
    upstream = routedUpstream(upstream, route)
  } catch {
    throw new WharfHyperdriveConfigError(
      `hyperdrive binding "${binding.binding}": the connection string is not a URL`
    )
  }
  const via = route === undefined ? '' : ` through ${route.description}`
  const dialOrigin = route === undefined ? undefined : (signal: AbortSignal) => route.dial(signal)
  if (/^mysql:/i.test(upstream)) return startMysql(binding, upstream, log, route)
  let originHost = '127.0.0.1'
  let originPort = 5432
  try {
    const url = new URL(upstream)
    originHost = unbracketHost(url.hostname) || originHost
    originPort = Number(url.port) || 5432
  } catch {
    throw new WharfHyperdriveConfigError(
      `hyperdrive binding "${binding.binding}": the connection string is not a URL`
    )
  }
  const startup = probeStartup(upstream)
  const user = 'wharf'
  const password = randomBytes(16).toString('hex')
  const cache = cacheOptions(binding.caching)
  const shared = sharedCacheOptions(binding)
  const { startPool } = await import('@wharf/pool')
  const start = (listen: string): Promise<Pool> =>
    startPool({
      upstream,
      listen,
      name: binding.binding,
      cache,
      ...shared,
      // Random per start and only on loopback: a low iteration count protects nothing less.
      auth: { user, password, iterations: 16 },
      ...(dialOrigin === undefined ? {} : { dialOrigin }),
    })

  let pool: Pool | undefined
  let lastError = ''
  const probe = await probeOrigin(originHost, originPort, undefined, dialOrigin, startup)
  if (probe.ok) {
    try {
      pool = await start('127.0.0.1:0')
    } catch (error) {
      lastError = (error as Error).message
    }
  } else {
    lastError = probe.reason
    if (!probe.down) {
      log(`[wharf:error] hyperdrive binding ${binding.binding}: ${probe.reason}`)
    }
  }

  let watch: NodeJS.Timeout | undefined
  const watchCache = (p: Pool): void => {
    watch = cacheHitLines(binding.binding, p, log)
  }

  let front: net.Server | undefined
  let port: number
  if (pool !== undefined) {
    port = pool.port
    log(
      `[wharf:info] hyperdrive binding ${binding.binding}: pooler on 127.0.0.1:${port}, origin ${originHost}:${originPort}${via}, ${describeCaching(binding.caching)}${describeShared(shared)}`
    )
    watchCache(pool)
  } else {
    log(
      `[wharf:warn] hyperdrive binding ${binding.binding}: the origin${via} is not available (${lastError}); starting anyway, each query fails until it is, and the binding connects on demand`
    )
    let attempt: Promise<void> | undefined
    let lastAttempt = 0
    const tryOrigin = (): Promise<void> => {
      if (pool !== undefined) return Promise.resolve()
      if (attempt !== undefined) return attempt
      if (Date.now() - lastAttempt < RETRY_MS) return Promise.resolve()
      lastAttempt = Date.now()
      attempt = (async () => {
        const again = await probeOrigin(originHost, originPort, undefined, dialOrigin, startup)
        if (!again.ok) {
          lastError = again.reason
          return
        }
        try {
          pool = await start('127.0.0.1:0')
          log(
            `[wharf:info] hyperdrive binding ${binding.binding}: the origin ${originHost}:${originPort}${via} is up; connected (${describeCaching(binding.caching)})`
          )
          watchCache(pool)
        } catch (error) {
          lastError = (error as Error).message
        }
      })().finally(() => {
        attempt = undefined
      })
      return attempt
    }
    const server = net.createServer({ pauseOnConnect: true }, (client) => {
      client.on('error', () => undefined)
      void tryOrigin().then(() => {
        if (pool !== undefined) {
          const upstreamSocket = net.connect({ host: '127.0.0.1', port: pool.port })
          upstreamSocket.on('error', () => client.destroy())
          client.on('close', () => upstreamSocket.destroy())
          upstreamSocket.on('close', () => client.destroy())
          client.pipe(upstreamSocket)
          upstreamSocket.pipe(client)
          client.resume()
          return
        }
        refuse(client, `wharf: hyperdrive binding ${binding.binding}: ${lastError}`)
      })
    })
    server.maxConnections = MAX_FRONT_CONNECTIONS
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    front = server
    port = (server.address() as net.AddressInfo).port
  }

  const database = (() => {
    try {
      return decodeURIComponent(new URL(upstream).pathname.slice(1)) || 'postgres'
    } catch {
      return 'postgres'
    }
  })()
  const info: HyperdriveInfo = {
    connectionString: `postgres://${user}:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}?sslmode=disable`,
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
  }
  return {
    binding: binding.binding,
    info,
    metrics: () => pool?.metrics(),
    close: async () => {
      clearInterval(watch)
      if (front !== undefined) {
        const closing = front
        await new Promise<void>((resolve) => closing.close(() => resolve()))
      }
      await pool?.close()
    },
  }
}

/** Answers a client's SSLRequest with 'N' and its startup message with the error, then closes. */
function refuse(client: net.Socket, message: string): void {
  let buffered = Buffer.alloc(0)
  const timer = setTimeout(() => client.destroy(), 10_000)
  client.on('close', () => clearTimeout(timer))
  client.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    if (buffered.length > STARTUP_BYTES) return client.destroy()
    while (buffered.length >= 8) {
      const length = buffered.readInt32BE(0)
      if (length < 8 || length > STARTUP_BYTES) return client.destroy()
      if (buffered.length < length) return
      const code = buffered.readInt32BE(4)
      buffered = buffered.subarray(length)
      if (code === 80877103 || code === 80877104) {
        client.write('N') // SSLRequest / GSSENCRequest: no
        continue
      }
      client.end(errorResponse(message))
      return
    }
  })
  client.resume()
}

export interface HyperdriveOptions {
  /**
   * The project directory, for `wharf dev`: a binding with no connection string gets an embedded
   * PostgreSQL there (unless its `embedded` is false). Without it (`wharf serve`), that is an error.
   */
  readonly projectDir?: string
}

/** Starts one pooler per binding. A binding whose origin is down still starts (see above). */
export async function startHyperdrive(
  bindings: readonly HyperdriveBinding[],
  log: Log = (line) => process.stderr.write(`${line}\n`),
  /** The dialer of a binding whose origin is a VPC service (`wharf.hyperdrive.<B>.service_id`). */
  dialerFor: (binding: HyperdriveBinding) => OriginRoute | undefined = () => undefined,
  options: HyperdriveOptions = {}
): Promise<StartedBinding[]> {
  const started: StartedBinding[] = []
  try {
    for (const binding of bindings)
      started.push(await startOne(binding, log, dialerFor(binding), options))
  } catch (error) {
    await Promise.all(started.map((s) => s.close()))
    throw error
  }
  return started
}
