/**
 * `wharf pool --upstream postgres://...|mysql://... [--listen 127.0.0.1:6543] [...]`: the pooler as its own
 * process, with a Ready line, /metrics, a summary every --stats-interval and on exit.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { boundedInt, parseListen, PoolConfigError } from './config.js'
import { serveMetrics } from './core/metrics.js'
import {
  announceReady,
  joinGroup,
  MAX_PROCESSES,
  startGroup,
  WORKER_ENV,
  type ProcessGroupLink,
} from './core/processes.js'
import { startPool, type PoolMetrics, type StartPoolOptions } from './pooler.js'

export const POOL_USAGE = `Usage: wharf pool --upstream postgres://USER:PASSWORD@HOST:PORT/DB [options]
       wharf pool --upstream mysql://USER:PASSWORD@HOST:PORT/DB[?ssl-mode=REQUIRED] [options]

  --listen HOST:PORT         where clients connect (default 127.0.0.1:6543)
  --user NAME --password PW  client credentials (SCRAM-SHA-256); without them, trust (loopback only)
  --max-connections N        origin connections (default 10)
  --acquire-timeout MS       how long a client waits for a connection (default 15000)
  --no-cache                 disable the query cache
  --cache-max-age S          seconds a result stays fresh (default 60)
  --cache-swr S              seconds a stale result is served while refreshing (default 15)
  --cache-max-mb N           memory for cached results (default 64)
  --cache-redis URL          share the cache (and write invalidations) with other poolers
                             through Redis: redis://[:PASSWORD@]HOST:PORT[/DB]
  --wal-publication NAME     drop cached results on every committed change in the origin's WAL
                             (logical replication; wal_level=logical, REPLICATION, and
                             CREATE PUBLICATION NAME FOR ALL TABLES)
  --wal-max-lag MS           with --wal-publication: serve nothing from the cache while the
                             stream is more than MS behind the origin (default 1000)
  --tls-cert FILE --tls-key FILE   TLS for clients (answers SSLRequest with 'S')
  --metrics HOST:PORT        serve Prometheus metrics at /metrics
  --stats-interval S         print a one-line summary every S seconds (default 30, 0 = never)
  --processes N              N pooler processes accepting on one socket (default 1, at most
                             16; not with --wal-publication or --metrics)
The upstream may also come from WHARF_POOL_UPSTREAM.
`

function summary(m: PoolMetrics): string {
  const c = m.cache
  return `[wharf:pool] clients ${m.clients} | origin ${m.originConnections} (${m.originIdle} idle) | waiting ${m.waitingClients} | transactions ${m.leases}${
    c.enabled
      ? ` | cache ${c.entries} entries, hits ${c.hits} (+${c.staleHits} stale), misses ${c.misses}, invalidated ${c.invalidations}`
      : ''
  }`
}

export async function poolCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'string' },
      listen: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'max-connections': { type: 'string' },
      'acquire-timeout': { type: 'string' },
      'no-cache': { type: 'boolean' },
      'cache-max-age': { type: 'string' },
      'cache-swr': { type: 'string' },
      'cache-max-mb': { type: 'string' },
      'cache-redis': { type: 'string' },
      'wal-publication': { type: 'string' },
      'wal-max-lag': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      metrics: { type: 'string' },
      'stats-interval': { type: 'string' },
      processes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(POOL_USAGE)
    return 0
  }
  const upstream = values.upstream ?? process.env.WHARF_POOL_UPSTREAM
  if (upstream === undefined) throw new PoolConfigError(`--upstream is required\n\n${POOL_USAGE}`)
  if ((values.user === undefined) !== (values.password === undefined)) {
    throw new PoolConfigError('--user and --password go together')
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new PoolConfigError('--tls-cert and --tls-key go together')
  }
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new PoolConfigError(`${file}: ${(error as Error).message}`)
    }
  }
  const options: StartPoolOptions = {
    upstream,
    listen: values.listen ?? '127.0.0.1:6543',
    name: 'wharf-pool',
    log: (line) => process.stdout.write(line + '\n'),
    ...(values.user !== undefined && values.password !== undefined
      ? { auth: { user: values.user, password: values.password } }
      : { auth: 'trust' as const }),
    ...(values['max-connections'] === undefined
      ? {}
      : { maxConnections: boundedInt(values['max-connections'], '--max-connections', 1, 10_000) }),
    ...(values['acquire-timeout'] === undefined
      ? {}
      : {
          acquireTimeoutMs: boundedInt(
            values['acquire-timeout'],
            '--acquire-timeout',
            1,
            3_600_000
          ),
        }),
    cache:
      values['no-cache'] === true
        ? false
        : {
            ...(values['cache-max-age'] === undefined
              ? {}
              : {
                  maxAgeMs: boundedInt(values['cache-max-age'], '--cache-max-age', 0, 3600) * 1000,
                }),
            ...(values['cache-swr'] === undefined
              ? {}
              : {
                  staleWhileRevalidateMs:
                    boundedInt(values['cache-swr'], '--cache-swr', 0, 3600) * 1000,
                }),
            ...(values['cache-max-mb'] === undefined
              ? {}
              : {
                  maxBytes:
                    boundedInt(values['cache-max-mb'], '--cache-max-mb', 0, 65536) * 1024 * 1024,
                }),
          },
    ...(values['cache-redis'] === undefined || values['no-cache'] === true
      ? {}
      : { cacheStore: { redis: values['cache-redis'] } }),
    ...(values['wal-publication'] === undefined || values['no-cache'] === true
      ? {}
      : {
          walInvalidation: {
            publication: values['wal-publication'],
            ...(values['wal-max-lag'] === undefined
              ? {}
              : { maxLagMs: boundedInt(values['wal-max-lag'], '--wal-max-lag', 10, 3_600_000) }),
          },
        }),
    ...(values['tls-cert'] !== undefined && values['tls-key'] !== undefined
      ? { tls: { cert: read(values['tls-cert']), key: read(values['tls-key']) } }
      : {}),
  }
  const processes = boundedInt(values.processes ?? '1', '--processes', 1, MAX_PROCESSES)
  const worker = process.env[WORKER_ENV]
  if (processes > 1 && worker === undefined) {
    if (values.metrics !== undefined || options.walInvalidation)
      throw new PoolConfigError('--processes: not with --metrics or --wal-publication')
    return primary(processes, options.listen ?? '127.0.0.1:6543', argv)
  }
  let group: ProcessGroupLink | undefined
  if (worker !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(worker)
    const index = Number(m?.[1])
    const count = Number(m?.[2])
    if (!m || count < 1 || count > MAX_PROCESSES || index >= count)
      throw new PoolConfigError(`${WORKER_ENV}=${worker}: expected INDEX/COUNT`)
    group = await joinGroup(index, count)
  }
  const pool = await startPool(group ? { ...options, processGroup: group } : options)
  const redacted = pool.connectionString.replace(/:[^:@/]*@/, ':***@')
  // In a group the primary says Ready, once every process is.
  if (group) announceReady(pool.connectionString)
  else process.stdout.write(`[wharf:pool] Ready on ${redacted}\n`)
  let metricsServer: { url: string; close(): Promise<void> } | undefined
  if (values.metrics !== undefined) {
    const at = parseListen(values.metrics)
    try {
      metricsServer = await serveMetrics(at.host, at.port, () => [pool.metrics()])
    } catch (error) {
      // Close what runs, or the open origin connection keeps the process alive forever.
      await pool.close()
      throw new PoolConfigError(
        `cannot serve metrics on ${values.metrics}: ${(error as Error).message}`,
        {
          cause: error,
        }
      )
    }
    process.stdout.write(`[wharf:pool] metrics at ${metricsServer.url}\n`)
  }
  const every = boundedInt(values['stats-interval'] ?? '30', '--stats-interval', 0, 86_400)
  const timer =
    every > 0
      ? setInterval(() => process.stdout.write(summary(pool.metrics()) + '\n'), every * 1000)
      : undefined
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    // A worker whose primary is gone stops too.
    if (group) process.once('disconnect', stop)
  })
  if (timer) clearInterval(timer)
  process.stdout.write(summary(pool.metrics()) + '\n')
  await metricsServer?.close()
  await pool.close()
  return 0
}

/** `--processes N`: binds, starts N workers on the socket, and stops them on a signal. */
async function primary(count: number, listen: string, argv: readonly string[]): Promise<number> {
  const at = parseListen(listen)
  const log = (line: string): void => void process.stdout.write(line + '\n')
  const group = await startGroup({
    host: at.host,
    port: at.port,
    label: listen,
    count,
    argv: ['pool', ...argv],
    log,
  })
  process.stdout.write(
    `[wharf:pool] Ready on ${group.url.replace(/:[^:@/]*@/, ':***@')} (${count} processes)\n`
  )
  const failure = await new Promise<string | undefined>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(undefined)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    void group.failed.then(resolve)
  })
  await group.stop()
  return failure === undefined ? 0 : 1
}
