/**
 * `@wharf/pool/redis`: the small Redis client behind the shared query cache, for the state
 * `@wharf/host` shares between hosts (`wharf serve`'s `shared_sockets`). See docs/pool.md.
 *
 * @module
 */
export { RedisClient, parseRedisUrl, redactedUrl } from './core/redis-client.js'
export type { RedisAddress, Reply } from './core/redis-client.js'
