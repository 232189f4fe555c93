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
export { PoolConfigError } from './config.js'
export { PoolExhaustedError } from './origin-pool.js'
export { OriginError } from './origin.js'
export { ProtocolError } from './wire.js'
export { prometheus, serveMetrics } from './metrics.js'
export { DEFAULT_CACHE } from './cache.js'
export type { CacheOptions } from './cache.js'
export { RedisStore } from './redis-store.js'
export type { SharedStoreOptions } from './redis-store.js'
