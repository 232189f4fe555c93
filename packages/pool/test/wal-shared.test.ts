// Several poolers on one Redis store, one of them subscribed to the WAL: a write no pooler sees
// (psql, behind every pooler's back) drops the shared result in Redis and in the memory of the
// pooler without the WAL, through the store's invalidations.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import type { RunningPool, StartPoolOptions } from '../src/index.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { waitFor } from '../../../test-support/servers.js'
import { pgClient, pooler, sleep, type PostgresServer } from './helpers.js'
import { startLogicalPostgres } from '../../../test-support/logical-postgres.js'

describe('wharf pool: WAL invalidation shared through Redis', () => {
  let server: PostgresServer
  let redis: RedisServer
  const pools: RunningPool[] = []
  const clients: pg.Client[] = []
  const open = async (options: Partial<StartPoolOptions>): Promise<[RunningPool, pg.Client]> => {
    const pool = await pooler(server, {
      auth: 'trust',
      cacheStore: {
        redis: `redis://:${redis.password}@127.0.0.1:${redis.port}`,
        prefix: 'walshared:',
        timeoutMs: 2000,
      },
      ...options,
    })
    pools.push(pool)
    const client = await pgClient(pool)
    clients.push(client)
    return [pool, client]
  }
  const value = async (client: pg.Client): Promise<string | undefined> =>
    (await client.query<{ v: string }>('SELECT v FROM walshared WHERE k = 1')).rows[0]?.v

  before(async () => {
    ;[server, redis] = await Promise.all([startLogicalPostgres(), startRedis()])
    server.psql(
      "CREATE TABLE walshared (k int primary key, v text); INSERT INTO walshared VALUES (1, 'a'); CREATE PUBLICATION wharf FOR ALL TABLES"
    )
  })
  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined)
    for (const p of pools) await p.close()
    await Promise.all([server.stop(), redis.stop()])
  })

  it('a write behind every pooler: the WAL pooler drops it for the pooler without the WAL too', async () => {
    const [walPool, a] = await open({ walInvalidation: { publication: 'wharf' } })
    const [plainPool, b] = await open({})
    await waitFor(() => walPool.metrics().changeStream.connected, 10_000, 'the stream')
    assert.equal(await value(a), 'a')
    await waitFor(
      async () => {
        const hits = plainPool.metrics().cache.hits
        return (await value(b)) === 'a' && plainPool.metrics().cache.hits > hits
      },
      10_000,
      'the plain pooler to serve the shared result from the cache'
    )

    const commits = walPool.metrics().changeStream.commits
    server.psql("UPDATE walshared SET v = 'behind their backs' WHERE k = 1")
    await waitFor(
      () => walPool.metrics().changeStream.commits > commits,
      10_000,
      'the commit to be streamed'
    )
    // The plain pooler has no stream of its own: only the store's invalidation can drop its copy.
    await waitFor(
      async () => (await value(b)) === 'behind their backs',
      3000,
      'the plain pooler to drop its stale copy'
    )
    assert.equal(await value(a), 'behind their backs')

    // The control: a pooler on another prefix, without the WAL, keeps serving what it cached.
    const [, c] = await open({
      cacheStore: {
        redis: `redis://:${redis.password}@127.0.0.1:${redis.port}`,
        prefix: 'walshared-control:',
        timeoutMs: 2000,
      },
    })
    assert.equal(await value(c), 'behind their backs')
    await value(c)
    server.psql("UPDATE walshared SET v = 'again' WHERE k = 1")
    await sleep(300)
    assert.equal(await value(c), 'behind their backs', 'the control serves the stale copy')
  })
})
