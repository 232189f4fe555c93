// @wharf/pool's exports map: exactly the documented names, no internals (the Redis store, the
// cache, the origin pool, the wire codecs and the SQL scanner are not public; ./redis is the
// client alone, for the host's shared state).
import { join } from 'node:path'
import { it } from 'node:test'
import { checkExportsMap } from '../../../test-support/exports-map.js'

it('every entry of the exports map exposes exactly its documented names', async () => {
  await checkExportsMap(
    join(import.meta.dirname, '..'),
    {
      '.': [
        'DEFAULT_CACHE',
        'OriginAuthError',
        'OriginError',
        'OriginTimeoutError',
        'OriginTlsError',
        'POOL_USAGE',
        'PoolClosedError',
        'PoolConfigError',
        'PoolError',
        'PoolExhaustedError',
        'ProtocolError',
        'poolCommand',
        'prometheus',
        'serveMetrics',
        'startPool',
      ],
      './redis': ['RedisClient', 'parseRedisUrl', 'redactedUrl'],
    },
    [
      'RedisStore',
      'QueryCache',
      'OriginPool',
      'Session',
      'MysqlSession',
      'ScramServer',
      'SQLSTATE',
      'cacheKey',
      'decode',
      'encode',
      'parseUpstream',
      'startMysqlPool',
      'listenFirst',
      'WalInvalidator',
    ]
  )
})
