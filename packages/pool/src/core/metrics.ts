/**
 * Pool metrics (protocol-neutral: a PostgreSQL or MySQL front end reports the same shape) and
 * their Prometheus text, for a `/metrics` endpoint.
 */
import http from 'node:http'

/** A snapshot of one pooler's counters and gauges. */
export interface PoolMetrics {
  readonly name: string
  readonly clients: number
  readonly clientsTotal: number
  readonly originConnections: number
  readonly originIdle: number
  readonly waitingClients: number
  readonly leases: number
  readonly originCreated: number
  readonly originFailed: number
  readonly resets: number
  readonly acquireTimeouts: number
  readonly refused: number
  readonly cache: {
    readonly enabled: boolean
    readonly entries: number
    readonly bytes: number
    readonly hits: number
    readonly staleHits: number
    readonly misses: number
    readonly stores: number
    readonly evictions: number
    readonly invalidations: number
    /** False while a shared store's invalidations may be missed: nothing is served then. */
    readonly vouching: boolean
  }
  /** Invalidation from the origin's change stream (PostgreSQL: the WAL), if enabled. */
  readonly changeStream: {
    readonly enabled: boolean
    readonly connected: boolean
    /** Committed transactions received. */
    readonly commits: number
    readonly reconnects: number
    /** How far (ms) the cache may be behind the origin; Infinity while the stream is down. */
    readonly lagMs: number
    /** Times the stream fell behind the lag bound (the cache served nothing meanwhile). */
    readonly lagging: number
    /** Schema changes (DDL) seen, each dropping the cached results it touched. */
    readonly schemaChanges: number
  }
}

export function prometheus(list: readonly PoolMetrics[]): string {
  const lines: string[] = []
  const metric = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    value: (m: PoolMetrics) => number
  ): void => {
    lines.push(`# HELP wharf_pool_${name} ${help}`, `# TYPE wharf_pool_${name} ${type}`)
    for (const m of list)
      lines.push(`wharf_pool_${name}{pool=${JSON.stringify(m.name)}} ${value(m)}`)
  }
  metric('clients', 'Connected clients', 'gauge', (m) => m.clients)
  metric('clients_total', 'Clients accepted', 'counter', (m) => m.clientsTotal)
  metric(
    'origin_connections',
    'Origin connections open (leased or idle)',
    'gauge',
    (m) => m.originConnections
  )
  metric('origin_idle', 'Idle origin connections', 'gauge', (m) => m.originIdle)
  metric(
    'waiting_clients',
    'Clients waiting for an origin connection',
    'gauge',
    (m) => m.waitingClients
  )
  metric('leases_total', 'Transactions served by an origin connection', 'counter', (m) => m.leases)
  metric(
    'acquire_timeouts_total',
    'Clients that waited too long for a connection',
    'counter',
    (m) => m.acquireTimeouts
  )
  metric('refused_total', 'Statements refused (session features)', 'counter', (m) => m.refused)
  metric('cache_entries', 'Cached results', 'gauge', (m) => m.cache.entries)
  metric('cache_bytes', 'Bytes of cached results', 'gauge', (m) => m.cache.bytes)
  metric('cache_hits_total', 'Fresh cache hits', 'counter', (m) => m.cache.hits)
  metric(
    'cache_stale_hits_total',
    'Stale hits served while revalidating',
    'counter',
    (m) => m.cache.staleHits
  )
  metric(
    'cache_misses_total',
    'Cacheable requests not in the cache',
    'counter',
    (m) => m.cache.misses
  )
  metric(
    'cache_invalidations_total',
    'Entries dropped by writes',
    'counter',
    (m) => m.cache.invalidations
  )
  metric(
    'change_stream_connected',
    '1 while the origin change stream (WAL) delivers invalidations, 0 when down or disabled',
    'gauge',
    (m) => (m.changeStream.connected ? 1 : 0)
  )
  metric(
    'change_stream_commits_total',
    'Committed transactions received from the origin change stream',
    'counter',
    (m) => m.changeStream.commits
  )
  metric(
    'change_stream_lag_ms',
    'How far behind the origin the cache may be, ms (-1 while the stream is down or disabled)',
    'gauge',
    (m) => (Number.isFinite(m.changeStream.lagMs) ? Math.round(m.changeStream.lagMs) : -1)
  )
  metric(
    'change_stream_lagging_total',
    'Times the change stream fell behind the lag bound (the cache served nothing meanwhile)',
    'counter',
    (m) => m.changeStream.lagging
  )
  metric(
    'change_stream_schema_changes_total',
    'Schema changes (DDL) seen by catalog polling, each dropping what it touched',
    'counter',
    (m) => m.changeStream.schemaChanges
  )
  metric(
    'cache_vouching',
    '1 while the cache can serve (its shared store delivers invalidations), else 0',
    'gauge',
    (m) => (m.cache.vouching ? 1 : 0)
  )
  return lines.join('\n') + '\n'
}

/** Serves GET /metrics on `host:port`; returns a closer. */
export async function serveMetrics(
  host: string,
  port: number,
  read: () => readonly PoolMetrics[]
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.setHeader('content-type', 'text/plain; version=0.0.4')
      res.end(prometheus(read()))
    } else {
      res.statusCode = 404
      res.end('GET /metrics\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const address = server.address() as { address: string; port: number }
  return {
    url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
