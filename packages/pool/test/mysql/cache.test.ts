// The query cache on the MySQL side, proven on the origin's own counters (SHOW GLOBAL STATUS):
// a hit never reaches MariaDB, non-deterministic reads always do, writes drop their tables.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { RunningPool } from '../../src/index.js'
import { client, mysqlPooler, sleep, startMariaDb, type MariaDbServer } from './helpers.js'

describe('MySQL pooler cache', () => {
  let server: MariaDbServer
  let pool: RunningPool
  before(async () => {
    server = await startMariaDb()
    server.sql(
      'CREATE TABLE app.prices (id INT PRIMARY KEY, cents INT); INSERT INTO app.prices VALUES (1, 100), (2, 200); CREATE TABLE app.other (id INT)'
    )
    pool = await mysqlPooler(server)
  })
  after(async () => {
    await pool.close()
    await server.stop()
  })

  it('serves a repeated read from the cache: Com_select on the origin counts one', async () => {
    const conn = await client(pool)
    const before = server.status('Com_select')
    for (let i = 0; i < 5; i++) {
      const [rows] = await conn.query('SELECT cents FROM prices WHERE id = 1')
      assert.deepEqual(rows, [{ cents: 100 }])
    }
    assert.equal(server.status('Com_select') - before, 1)
    assert.ok(pool.metrics().cache.hits >= 4)
    // Another client gets the cached answer too.
    const other = await client(pool)
    const [rows] = await other.query('SELECT cents FROM prices WHERE id = 1')
    assert.deepEqual(rows, [{ cents: 100 }])
    assert.equal(server.status('Com_select') - before, 1)
    await conn.end()
    await other.end()
  })

  it('never caches NOW(), RAND(), UUID(), LAST_INSERT_ID() or user variables', async () => {
    const conn = await client(pool)
    for (const q of [
      'SELECT NOW(6) AS v',
      'SELECT RAND() AS v',
      'SELECT UUID() AS v',
      'SELECT LAST_INSERT_ID() AS v',
      'SELECT @nothing AS v',
      'SELECT CURRENT_TIMESTAMP AS v',
      'SELECT cents FROM prices WHERE id = 2 FOR UPDATE',
    ]) {
      const before = server.status('Com_select')
      await conn.query(q)
      await conn.query(q)
      assert.equal(server.status('Com_select') - before, 2, q)
    }
    await conn.end()
  })

  it('a write through the pooler drops the cached reads of its table only', async () => {
    const conn = await client(pool)
    await conn.query('SELECT cents FROM prices WHERE id = 2')
    await conn.query('SELECT COUNT(*) AS n FROM other')
    const before = server.status('Com_select')
    await conn.query('UPDATE prices SET cents = 250 WHERE id = 2')
    const [rows] = await conn.query('SELECT cents FROM prices WHERE id = 2')
    assert.deepEqual(rows, [{ cents: 250 }])
    assert.equal(server.status('Com_select') - before, 1, 'prices was read again')
    await conn.query('SELECT COUNT(*) AS n FROM other')
    assert.equal(server.status('Com_select') - before, 1, 'other stayed cached')
    // Inside a transaction nothing is served from the cache, and the commit invalidates.
    await conn.query('BEGIN')
    await conn.query('INSERT INTO other VALUES (1)')
    const [inside] = await conn.query('SELECT COUNT(*) AS n FROM other')
    assert.deepEqual(inside, [{ n: 1 }])
    await conn.query('COMMIT')
    const [outside] = await conn.query('SELECT COUNT(*) AS n FROM other')
    assert.deepEqual(outside, [{ n: 1 }])
    await conn.end()
  })

  it('caches prepared-statement reads per parameter values', async () => {
    const conn = await client(pool)
    const before = server.status('Com_stmt_execute')
    for (let i = 0; i < 3; i++) {
      const [rows] = await conn.execute('SELECT cents FROM prices WHERE id = ?', [1])
      assert.deepEqual(rows, [{ cents: 100 }])
    }
    const [two] = await conn.execute('SELECT cents FROM prices WHERE id = ?', [2])
    assert.deepEqual(two, [{ cents: 250 }])
    assert.equal(server.status('Com_stmt_execute') - before, 2)
    await conn.end()
  })

  it('serves stale while one refresh runs (stale-while-revalidate)', async () => {
    const p = await mysqlPooler(server, { cache: { maxAgeMs: 200, staleWhileRevalidateMs: 5000 } })
    try {
      const conn = await client(p)
      await conn.query('SELECT cents, id FROM prices WHERE id = 1')
      server.sql('UPDATE app.prices SET cents = 111 WHERE id = 1') // behind the pooler's back
      await sleep(400)
      const [stale] = await conn.query('SELECT cents, id FROM prices WHERE id = 1')
      assert.deepEqual(stale, [{ cents: 100, id: 1 }])
      let fresh: unknown
      for (let i = 0; i < 50; i++) {
        await sleep(50)
        ;[fresh] = await conn.query('SELECT cents, id FROM prices WHERE id = 1')
        if (JSON.stringify(fresh) !== JSON.stringify(stale)) break
      }
      assert.deepEqual(fresh, [{ cents: 111, id: 1 }])
      assert.ok(p.metrics().cache.staleHits >= 1)
      await conn.end()
    } finally {
      await p.close()
    }
  })
})
