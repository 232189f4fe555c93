// Redis stopped and started again under load: two poolers share a cache through it while eight
// clients read and one writes through the poolers. Every query answers; no read is staler than
// the invalidation delay bound, before, during or after the restart; and once Redis is back the
// poolers vouch for their caches again by themselves.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import type { RunningPool } from '../src/index.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

/**
 * A read may miss a write committed less than this long before it started: invalidations travel
 * by Redis pub/sub. At 500 ms, 4 of 127 reads broke it once with the machine's load average at
 * 15 (two cores shared by several test runs); 1500 ms leaves room for that.
 */
const INVALIDATION_BOUND_MS = 1_500

describe('wharf pool: Redis restarts under load', () => {
  let server: PostgresServer
  let redis: RedisServer
  const pools: RunningPool[] = []
  const clients: pg.Client[] = []

  before(async () => {
    ;[server, redis] = await Promise.all([startPostgres(), startRedis()])
    server.psql(
      'CREATE TABLE counters (id int primary key, v int); INSERT INTO counters VALUES (1, 0)'
    )
    for (let i = 0; i < 2; i++) {
      pools.push(
        await pooler(server, {
          cacheStore: {
            redis: `redis://:${redis.password}@127.0.0.1:${redis.port}`,
            prefix: 'rr:',
          },
        })
      )
    }
    for (let i = 0; i < 9; i++) clients.push(await pgClient(pools[i % 2] as RunningPool))
  })
  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined)
    for (const p of pools) await p.close()
    await Promise.all([server.stop(), redis.stop()])
  })

  it('answers every query, serves nothing stale, and vouches again once Redis is back', async () => {
    const [writer, ...readers] = clients as [pg.Client, ...pg.Client[]]
    const commits: { v: number; at: number }[] = [{ v: 0, at: 0 }]
    const errors: string[] = []
    const stale: string[] = []
    let reads = 0
    let running = true
    const write = async (): Promise<void> => {
      while (running) {
        try {
          const { rows } = await writer.query<{ v: number }>(
            'UPDATE counters SET v = v + 1 WHERE id = 1 RETURNING v'
          )
          commits.push({ v: rows[0]?.v ?? -1, at: performance.now() })
        } catch (error) {
          errors.push(`write: ${(error as Error).message}`)
        }
        await sleep(40)
      }
    }
    const read = async (client: pg.Client): Promise<void> => {
      while (running) {
        const started = performance.now()
        const floor = Math.max(
          ...commits.filter((c) => c.at < started - INVALIDATION_BOUND_MS).map((c) => c.v)
        )
        try {
          const { rows } = await client.query<{ v: number }>('SELECT v FROM counters WHERE id = 1')
          const v = rows[0]?.v ?? -1
          reads++
          if (v < floor) stale.push(`read ${v}, but ${floor} was committed before it started`)
        } catch (error) {
          errors.push(`read: ${(error as Error).message}`)
        }
        await sleep(5)
      }
    }
    const load = Promise.all([write(), ...readers.map(read)])
    await sleep(1_500)
    const hitsBefore = pools.map((p) => p.metrics().cache.hits)
    await redis.restart()
    // Back by themselves: each pooler vouches for its memory and serves from cache again.
    const deadline = performance.now() + 10_000
    while (
      pools.some(
        (p, i) => !p.metrics().cache.vouching || p.metrics().cache.hits <= (hitsBefore[i] ?? 0)
      )
    ) {
      if (performance.now() > deadline) break
      await sleep(50)
    }
    await sleep(1_500)
    running = false
    await load
    assert.deepEqual(errors, [], 'every query answered')
    assert.deepEqual(stale.slice(0, 5), [], `${stale.length} stale reads of ${reads}`)
    assert.ok(reads > 100, `only ${reads} reads`)
    for (const [i, p] of pools.entries()) {
      assert.equal(p.metrics().cache.vouching, true, `pooler ${i} vouches again`)
      assert.ok(
        p.metrics().cache.hits > (hitsBefore[i] ?? 0),
        `pooler ${i} serves from cache again`
      )
    }
    // The restarted Redis holds entries again: the store is in use, not only the memory cache.
    assert.match(redis.cli('DBSIZE'), /^[1-9]/)
  })
})
