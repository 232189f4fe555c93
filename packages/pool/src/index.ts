/**
 * `@wharf/pool`: a Hyperdrive-equivalent Postgres pooler: transaction pooling over the wire
 * protocol, named prepared statements across origin connections, and a read-query cache with
 * stale-while-revalidate and invalidation on writes. See docs/pool.md.
 *
 * @module
 */
export { startPool } from './pooler.js'
export type { StartPoolOptions, RunningPool, PoolMetrics } from './pooler.js'
export { poolCommand, POOL_USAGE } from './cli.js'
export {
  PoolError,
  PoolConfigError,
  PoolExhaustedError,
  PoolClosedError,
  ProtocolError,
  OriginError,
  OriginAuthError,
  OriginTlsError,
  OriginTimeoutError,
} from './errors.js'
export { prometheus, serveMetrics } from './core/metrics.js'
export { DEFAULT_CACHE } from './core/cache.js'
export type { CacheOptions } from './core/cache.js'
export type { OriginDial } from './core/origin-dial.js'
