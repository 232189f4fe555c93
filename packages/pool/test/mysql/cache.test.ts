// The query cache on the MySQL side, proven on the origin's own counters (SHOW GLOBAL STATUS):
// a hit never reaches MariaDB, non-deterministic reads always do, writes drop their tables.
import assert from 'node:assert/strict'
import net from 'node:net'
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

  it('an execute that omits the parameter types hits the entry of one that sent them; hits sent together are answered in order', async () => {
    const p = await mysqlPooler(server, { auth: 'trust' })
    const socket = net.connect({ host: '127.0.0.1', port: p.port })
    socket.on('error', () => undefined)
    try {
      let got = Buffer.alloc(0)
      socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])))
      /** The next whole packet, header included (bounded wait). */
      const packet = async (): Promise<Buffer> => {
        const deadline = Date.now() + 5000
        while (got.length < 4 || got.length < 4 + got.readUIntLE(0, 3)) {
          if (Date.now() > deadline) throw new Error('no packet from the pooler')
          await sleep(5)
        }
        const whole = got.subarray(0, 4 + got.readUIntLE(0, 3))
        got = got.subarray(whole.length)
        return whole
      }
      /** A whole result set (column count, definition, EOF, rows, EOF), as sent. */
      const resultSet = async (): Promise<Buffer> => {
        const parts = [await packet(), await packet(), await packet()]
        for (;;) {
          const row = await packet()
          parts.push(row)
          if (row[4] === 0xfe && row.length < 13) return Buffer.concat(parts)
        }
      }
      const framed = (seq: number, payload: Buffer): Buffer => {
        const head = Buffer.alloc(4)
        head.writeUIntLE(payload.length, 0, 3)
        head[3] = seq
        return Buffer.concat([head, payload])
      }
      await packet() // greeting
      const fixed = Buffer.alloc(32)
      fixed.writeUInt32LE(0x00000200 | 0x00008000, 0) // PROTOCOL_41 | SECURE_CONNECTION
      fixed.writeUInt32LE(16 * 1024 * 1024, 4)
      fixed[8] = 45
      socket.write(framed(1, Buffer.concat([fixed, Buffer.from(`${p.user}\0`), Buffer.from([0])])))
      assert.equal((await packet())[4], 0x00, 'logged in')
      socket.write(framed(0, Buffer.from('\x16SELECT cents FROM prices WHERE id = ?', 'latin1')))
      const ok = await packet()
      assert.equal(ok[4], 0x00)
      const id = ok.readUInt32LE(5)
      await packet() // the parameter's definition
      await packet() // EOF
      await packet() // the column's definition
      await packet() // EOF
      /** COM_STMT_EXECUTE of id = `value` (a LONG), with or without the parameter's type. */
      const execute = (value: number, types: boolean): Buffer => {
        const head = Buffer.alloc(10)
        head[0] = 0x17
        head.writeUInt32LE(id, 1)
        head.writeUInt32LE(1, 6) // iteration count
        const v = Buffer.alloc(4)
        v.writeInt32LE(value)
        const params = types ? [Buffer.from([0, 1, 3, 0]), v] : [Buffer.from([0, 0]), v]
        return framed(0, Buffer.concat([head, ...params]))
      }
      const executes = server.status('Com_stmt_execute')
      const misses = p.metrics().cache.misses
      socket.write(execute(1, true))
      const first = await resultSet()
      socket.write(execute(1, false))
      assert.deepEqual(await resultSet(), first, 'the same answer, from the cache')
      socket.write(Buffer.concat([execute(1, false), execute(1, true), execute(1, false)]))
      for (let i = 0; i < 3; i++) assert.deepEqual(await resultSet(), first)
      assert.equal(server.status('Com_stmt_execute') - executes, 1, 'the origin ran it once')
      assert.equal(p.metrics().cache.misses - misses, 1, 'one miss counted, once')
      socket.write(execute(2, false))
      const two = await resultSet()
      assert.notDeepEqual(two, first, 'other values, another entry')
      assert.equal(server.status('Com_stmt_execute') - executes, 2)
    } finally {
      socket.destroy()
      await p.close()
    }
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
