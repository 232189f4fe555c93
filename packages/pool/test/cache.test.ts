// The query cache against a real PostgreSQL: hits, expiry, stale-while-revalidate, invalidation
// by writes through the pooler (also inside transactions), what is never cached, and the bounds.
// Rows are changed behind the pooler's back (psql on the Unix socket) to see what is served.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import type { RunningPool } from '../src/index.js'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

const name = async (client: pg.Client, id = 1): Promise<string | undefined> =>
  (await client.query<{ name: string }>('SELECT name FROM items WHERE id = $1', [id])).rows[0]?.name
const simpleName = async (client: pg.Client): Promise<string | undefined> =>
  (await client.query<{ name: string }>('SELECT name FROM items WHERE id = 1')).rows[0]?.name

describe('wharf pool: the query cache', () => {
  let server: PostgresServer
  const pools: RunningPool[] = []
  const clients: pg.Client[] = []
  const open = async (
    options: Parameters<typeof pooler>[1] = {}
  ): Promise<[RunningPool, pg.Client]> => {
    const pool = await pooler(server, options)
    pools.push(pool)
    const client = await pgClient(pool)
    clients.push(client)
    return [pool, client]
  }

  before(async () => {
    server = await startPostgres()
    server.psql(
      "CREATE TABLE items (id int primary key, name text); INSERT INTO items VALUES (1, 'a'), (2, 'b')"
    )
  })
  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined)
    for (const p of pools) await p.close()
    await server.stop()
  })
  const reset = (): void => {
    server.psql(
      "UPDATE items SET name = 'a' WHERE id = 1; UPDATE items SET name = 'b' WHERE id = 2"
    )
  }

  it('serves a repeated read from the cache (simple and extended protocol, keyed by parameters)', async () => {
    reset()
    const [pool, client] = await open()
    assert.equal(await simpleName(client), 'a')
    assert.equal(await name(client, 1), 'a')
    assert.equal(await name(client, 2), 'b')
    server.psql("UPDATE items SET name = 'changed behind its back' WHERE id IN (1, 2)")
    assert.equal(await simpleName(client), 'a', 'simple query served from the cache')
    assert.equal(await name(client, 1), 'a', 'extended query served from the cache')
    assert.equal(await name(client, 2), 'b', 'a different parameter is a different entry')
    assert.ok(pool.metrics().cache.hits >= 3)
  })

  it('expires after max_age', async () => {
    reset()
    // max_age leaves room for a psql run on a loaded machine: the second read must still be fresh.
    const [, client] = await open({ cache: { maxAgeMs: 3_000, staleWhileRevalidateMs: 0 } })
    assert.equal(await name(client), 'a')
    server.psql("UPDATE items SET name = 'new' WHERE id = 1")
    assert.equal(await name(client), 'a')
    await sleep(3_300)
    assert.equal(await name(client), 'new')
  })

  it('stale-while-revalidate: serves the stale result once, refreshes in the background', async () => {
    reset()
    const [pool, client] = await open({ cache: { maxAgeMs: 200, staleWhileRevalidateMs: 10_000 } })
    assert.equal(await name(client), 'a')
    server.psql("UPDATE items SET name = 'fresh' WHERE id = 1")
    await sleep(300)
    assert.equal(await name(client), 'a', 'stale, served at once')
    assert.equal(pool.metrics().cache.staleHits, 1)
    const deadline = Date.now() + 5000
    let seen = 'a'
    while (seen !== 'fresh' && Date.now() < deadline) {
      await sleep(20)
      seen = (await name(client)) ?? ''
    }
    assert.equal(seen, 'fresh', 'the refresh replaced the entry')
  })

  it('a write through the pooler drops the cached reads of that table at once', async () => {
    reset()
    const [pool, client] = await open()
    assert.equal(await name(client), 'a')
    assert.equal(await name(client), 'a')
    await client.query("UPDATE items SET name = 'written' WHERE id = 1")
    assert.equal(await name(client), 'written')
    assert.ok(pool.metrics().cache.invalidations >= 1)
  })

  it('a write inside a transaction also drops what other clients cached before it committed', async () => {
    reset()
    const [pool, writer] = await open()
    const reader = await pgClient(pool)
    clients.push(reader)
    await writer.query('BEGIN')
    await writer.query("UPDATE items SET name = 'committed' WHERE id = 1")
    assert.equal(await name(reader), 'a', 'not yet committed')
    assert.equal(await name(reader), 'a')
    await writer.query('COMMIT')
    assert.equal(await name(reader), 'committed')
  })

  it('never caches volatile or stable functions, locking reads, or anything inside a transaction', async () => {
    reset()
    server.psql('CREATE SEQUENCE IF NOT EXISTS items_seq')
    const [pool, client] = await open()
    const before = pool.metrics().cache.stores
    for (const text of [
      'SELECT now()',
      'SELECT random()',
      'SELECT current_timestamp',
      'SELECT name FROM items WHERE id = 1 FOR UPDATE',
      "SELECT nextval('items_seq')",
    ]) {
      // Each must run (a failing query is not cached either, so failures would pass unseen).
      for (let i = 0; i < 2; i++) {
        const result = await client.query(text)
        assert.equal(result.rowCount, 1, text)
      }
    }
    await client.query('BEGIN')
    await client.query('SELECT name FROM items WHERE id = 2')
    await client.query('COMMIT')
    assert.equal(pool.metrics().cache.stores, before)
    const r1 = (await client.query<{ r: number }>('SELECT random() AS r')).rows[0]?.r
    const r2 = (await client.query<{ r: number }>('SELECT random() AS r')).rows[0]?.r
    assert.notEqual(r1, r2)
    // A function name in a comment does not matter (Hyperdrive's text matching would refuse it).
    await client.query('/* now() */ SELECT 1 AS one')
    assert.equal(pool.metrics().cache.stores, before + 1)
  })

  it('can be turned off per pooler', async () => {
    reset()
    const [pool, client] = await open({ cache: false })
    assert.equal(await name(client), 'a')
    server.psql("UPDATE items SET name = 'uncached' WHERE id = 1")
    assert.equal(await name(client), 'uncached')
    assert.equal(pool.metrics().cache.enabled, false)
  })

  it('is bounded: entries past maxBytes are evicted oldest first, huge results not cached', async () => {
    reset()
    const [pool, client] = await open({ cache: { maxBytes: 2000, maxEntryBytes: 1000 } })
    for (let i = 0; i < 40; i++) await client.query(`SELECT ${i} AS n, repeat('x', 50) AS pad`)
    const m = pool.metrics().cache
    assert.ok(m.bytes <= 2000, `${m.bytes} bytes`)
    assert.ok(m.evictions > 0)
    const stores = m.stores
    await client.query("SELECT repeat('y', 5000) AS big")
    assert.equal(pool.metrics().cache.stores, stores)
  })
})
