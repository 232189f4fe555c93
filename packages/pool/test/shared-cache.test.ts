// The shared cache store: two poolers on one real redis-server share cached results and each
// other's write invalidations; Redis going away turns lookups into misses, never into errors.
// Rows are changed behind the poolers' backs (psql on the Unix socket) to see what is served.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { startPool, type RunningPool } from '../src/index.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

const name = async (client: pg.Client, id = 1): Promise<string | undefined> =>
  (await client.query<{ name: string }>('SELECT name FROM shared_items WHERE id = $1', [id]))
    .rows[0]?.name

async function until(check: () => Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

describe('wharf pool: the query cache shared through Redis', () => {
  let server: PostgresServer
  let redis: RedisServer
  let redisStopped = false
  const pools: RunningPool[] = []
  const clients: pg.Client[] = []
  const open = async (prefix: string | undefined): Promise<[RunningPool, pg.Client]> => {
    const pool = await pooler(server, {
      // A lookup past timeoutMs is a miss without a token, so its result stays in memory: a busy
      // CI machine must not turn sharing off for the test.
      cacheStore: {
        redis: `redis://:${redis.password}@127.0.0.1:${redis.port}`,
        ...(prefix === undefined ? {} : { prefix }),
        timeoutMs: 2000,
      },
    })
    pools.push(pool)
    const client = await pgClient(pool)
    clients.push(client)
    return [pool, client]
  }

  before(async () => {
    ;[server, redis] = await Promise.all([startPostgres(), startRedis()])
    server.psql(
      "CREATE TABLE shared_items (id int primary key, name text); INSERT INTO shared_items VALUES (1, 'a'), (2, 'b')"
    )
  })
  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined)
    for (const p of pools) await p.close()
    await Promise.all([server.stop(), redisStopped ? undefined : redis.stop()])
  })

  it('a result cached by one pooler is served by another; a write through either drops it in both', async () => {
    const [, a] = await open('t1:')
    const [poolB, b] = await open('t1:')
    assert.equal(await name(a, 1), 'a')
    await until(() => Promise.resolve(redis.cli('DBSIZE') !== '0'), 'the result to reach Redis')
    server.psql("UPDATE shared_items SET name = 'changed behind its back' WHERE id = 1")
    assert.equal(await name(b, 1), 'a', 'pooler B serves what pooler A cached')
    assert.equal(poolB.metrics().cache.hits, 1)
    assert.equal(await name(b, 2), 'b', 'other keys miss')

    // A write through B: Redis drops the entry, and A drops it from memory.
    await b.query("UPDATE shared_items SET name = 'written through b' WHERE id = 1")
    await until(async () => (await name(a, 1)) === 'written through b', 'A to see the write')
    assert.equal(await name(b, 1), 'written through b')
  })

  it('poolers with another prefix do not share', async () => {
    server.psql("UPDATE shared_items SET name = 'p' WHERE id = 2")
    const [, a] = await open('t2a:')
    const [, b] = await open('t2b:')
    assert.equal(await name(a, 2), 'p')
    await sleep(100)
    server.psql("UPDATE shared_items SET name = 'q' WHERE id = 2")
    assert.equal(await name(b, 2), 'q', 'B has its own (empty) cache')
    assert.equal(await name(a, 2), 'p', 'A still has its own entry in memory')
  })

  it('the default prefix is per origin database: two databases on one Redis never share results', async () => {
    server.psql('CREATE DATABASE other')
    const otherUrl = server.connectionString.replace(/\/postgres$/, '/other')
    const setup = new pg.Client({ connectionString: `${otherUrl}?sslmode=disable` })
    await setup.connect()
    await setup.query(
      "CREATE TABLE shared_items (id int primary key, name text); INSERT INTO shared_items VALUES (1, 'in other')"
    )
    await setup.end()
    server.psql("UPDATE shared_items SET name = 'in postgres' WHERE id = 1")
    const store = { redis: `redis://:${redis.password}@127.0.0.1:${redis.port}`, timeoutMs: 2000 }
    const [, a] = await open(undefined)
    const otherPool = await startPool({
      upstream: `${otherUrl}?sslmode=disable`,
      listen: '127.0.0.1:0',
      cacheStore: store,
    })
    pools.push(otherPool)
    const b = await pgClient(otherPool)
    clients.push(b)
    assert.equal(await name(a, 1), 'in postgres')
    await until(() => Promise.resolve(redis.cli('DBSIZE') !== '0'), 'the result to reach Redis')
    assert.equal(await name(b, 1), 'in other', 'the other database answers for itself')
  })

  it('the invalidation subscription drops (Redis kills it): no stale read, and it comes back', async () => {
    server.psql("UPDATE shared_items SET name = 'before' WHERE id = 2")
    const [, a] = await open('t4:')
    const [poolB, b] = await open('t4:')
    assert.equal(await name(b, 2), 'before')
    assert.equal(await name(b, 2), 'before')
    assert.equal(poolB.metrics().cache.hits, 1, 'B serves it from memory')
    // Every subscriber connection is cut, as a Redis restart or failover would.
    assert.match(redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub'), /^[1-9]/)
    await sleep(100)
    await a.query("UPDATE shared_items SET name = 'during the gap' WHERE id = 2")
    assert.equal(await name(b, 2), 'during the gap', 'B no longer vouches for its memory')
    // B subscribes again by itself and serves from memory again (bounded).
    const hits = poolB.metrics().cache.hits
    await until(
      async () => (await name(b, 2)) === 'during the gap' && poolB.metrics().cache.hits > hits,
      'B to cache again after resubscribing',
      8000
    )
    await a.query("UPDATE shared_items SET name = 'after' WHERE id = 2")
    await until(async () => (await name(b, 2)) === 'after', 'B to hear the invalidation again')
  })

  it('Redis going away: queries still work (store lookups become misses)', async () => {
    server.psql("UPDATE shared_items SET name = 'r' WHERE id = 1")
    const [pool, client] = await open('t3:')
    await redis.stop()
    redisStopped = true
    server.psql("UPDATE shared_items SET name = 's' WHERE id = 1")
    assert.equal(await name(client, 1), 's')
    // Other poolers' invalidations cannot arrive: the memory cache serves nothing it cannot
    // vouch for, and says so.
    server.psql("UPDATE shared_items SET name = 't' WHERE id = 1")
    assert.equal(await name(client, 1), 't', 'no stale read from memory')
    assert.equal(pool.metrics().cache.hits, 0)
    assert.equal(pool.metrics().cache.vouching, false)
  })
})
