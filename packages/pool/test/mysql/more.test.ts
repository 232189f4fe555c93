// More of the MySQL front end against a real MariaDB: COM_RESET_CONNECTION from a client, pool
// exhaustion, the pooler as an origin for another pooler (so the origin side's
// caching_sha2_password runs against a server that has it), and the Redis-shared cache.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { startRedis, type RedisServer } from '../../../../test-support/redis.js'
import { startPool, type RunningPool } from '../../src/index.js'
import { client, mysqlPooler, sleep, startMariaDb, type MariaDbServer } from './helpers.js'

describe('MySQL pooler (more)', () => {
  let server: MariaDbServer
  before(async () => {
    server = await startMariaDb()
    server.sql(
      'CREATE TABLE app.kv (k VARCHAR(10) PRIMARY KEY, v INT); INSERT INTO app.kv VALUES ("a", 1)'
    )
  })
  after(async () => {
    await server.stop()
  })

  it('COM_RESET_CONNECTION from the client drops its session state and releases the connection', async () => {
    const p = await mysqlPooler(server, { cache: false, maxConnections: 1, acquireTimeoutMs: 5000 })
    try {
      const a = await client(p)
      await a.query('SET @mine = 42')
      const [before] = await a.query('SELECT @mine AS v')
      assert.deepEqual(before, [{ v: 42 }])
      await a.reset()
      // Another client can now get the only connection (a no longer holds it).
      const b = await client(p)
      const [other] = await b.query('SELECT @mine AS v')
      assert.deepEqual(other, [{ v: null }])
      await b.end()
      const [after] = await a.query('SELECT @mine AS v')
      assert.deepEqual(after, [{ v: null }])
      await a.end()
    } finally {
      await p.close()
    }
  })

  it('streams a result of 100,000 tiny rows (many packets a read) and a 20 MiB value intact', async () => {
    const p = await mysqlPooler(server, { cache: false })
    try {
      const c = await client(p)
      // MariaDB's SEQUENCE engine: one-byte rows, thousands of packets in each 64 KiB read.
      const [rows] = await c.query('SELECT seq % 10 AS d FROM seq_1_to_100000')
      const list = rows as { d: number }[]
      assert.equal(list.length, 100_000)
      assert.equal(
        list.reduce((sum, r) => sum + Number(r.d), 0),
        450_000
      )
      // A value above 16 MiB: the origin splits the row packet and the pooler joins it.
      const [big] = await c.query("SELECT REPEAT('x', 20 * 1024 * 1024) AS v")
      assert.equal((big as { v: string }[])[0]?.v.length, 20 * 1024 * 1024)
      const [after] = await c.query('SELECT 1 AS one')
      assert.deepEqual(after, [{ one: 1 }])
      await c.end()
    } finally {
      await p.close()
    }
  })

  it('after login: an unknown command gets 1047 and the session goes on; a malformed one 1835, and its open transaction is rolled back', async () => {
    const p = await mysqlPooler(server, { cache: false, maxConnections: 1, auth: 'trust' })
    try {
      const socket = net.connect({ host: '127.0.0.1', port: p.port })
      socket.on('error', () => undefined)
      let got = Buffer.alloc(0)
      socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])))
      const closed = once(socket, 'close')
      /** The next whole packet's payload (bounded wait). */
      const packet = async (): Promise<Buffer> => {
        const deadline = Date.now() + 5000
        while (got.length < 4 || got.length < 4 + got.readUIntLE(0, 3)) {
          if (Date.now() > deadline) throw new Error('no packet from the pooler')
          await sleep(5)
        }
        const length = got.readUIntLE(0, 3)
        const payload = got.subarray(4, 4 + length)
        got = got.subarray(4 + length)
        return payload
      }
      const send = (seq: number, payload: Buffer): void => {
        const head = Buffer.alloc(4)
        head.writeUIntLE(payload.length, 0, 3)
        head[3] = seq
        socket.write(Buffer.concat([head, payload]))
      }
      await packet() // greeting
      // HandshakeResponse41: PROTOCOL_41 | SECURE_CONNECTION, utf8mb4, user, empty auth.
      const fixed = Buffer.alloc(32)
      fixed.writeUInt32LE(0x00000200 | 0x00008000, 0)
      fixed.writeUInt32LE(16 * 1024 * 1024, 4)
      fixed[8] = 45
      send(1, Buffer.concat([fixed, Buffer.from(`${p.user}\0`), Buffer.from([0])]))
      assert.equal((await packet())[0], 0x00, 'logged in')
      send(0, Buffer.from([0x63]))
      const unknown = await packet()
      assert.equal(unknown[0], 0xff)
      assert.equal(unknown.readUInt16LE(1), 1047)
      send(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('BEGIN')]))
      assert.equal((await packet())[0], 0x00, 'BEGIN answered')
      send(0, Buffer.concat([Buffer.from([0x03]), Buffer.from("INSERT INTO kv VALUES ('zz', 9)")]))
      assert.equal((await packet())[0], 0x00, 'INSERT answered')
      // COM_STMT_EXECUTE cut short: no statement id.
      send(0, Buffer.from([0x17, 1]))
      const malformed = await packet()
      assert.equal(malformed[0], 0xff)
      assert.equal(malformed.readUInt16LE(1), 1835)
      await Promise.race([closed, sleep(5000)])
      assert.ok(socket.destroyed, 'the pooler closed the malformed client')
      // The only origin connection was reset: the insert is gone, no transaction is open.
      const c = await client(p)
      const [rows] = await c.query(
        "SELECT COUNT(*) AS n, @@in_transaction AS tx FROM kv WHERE k = 'zz'"
      )
      assert.deepEqual(rows, [{ n: 0, tx: 0 }])
      await c.end()
    } finally {
      await p.close()
    }
  })

  it('a client waiting too long for a connection gets 1040 with Hyperdrive wording', async () => {
    const p = await mysqlPooler(server, { cache: false, maxConnections: 1, acquireTimeoutMs: 300 })
    try {
      const a = await client(p)
      await a.query('BEGIN')
      const b = await client(p)
      const e = await b.query('SELECT 1').catch((error: Error & { errno?: number }) => error)
      assert.ok(e instanceof Error)
      assert.equal((e as { errno?: number }).errno, 1040)
      assert.match(e.message, /Failed to acquire a connection from the pool/)
      assert.equal(p.metrics().acquireTimeouts, 1)
      await a.query('COMMIT')
      const [rows] = await b.query('SELECT 2 AS two')
      assert.deepEqual(rows, [{ two: 2 }])
      await a.end()
      await b.end()
    } finally {
      await p.close()
    }
  })

  for (const plugin of ['caching_sha2_password', 'mysql_native_password'] as const) {
    it(`origin side: logs in to an origin that speaks ${plugin} (a pooler in front of a pooler)`, async () => {
      const inner = await mysqlPooler(server, {
        cache: false,
        authPlugins: [plugin],
        auth: { user: 'inner', password: 'inner-pw' },
      })
      try {
        const outer = await startPool({
          upstream: `mysql://inner:inner-pw@127.0.0.1:${inner.port}/app?ssl-mode=DISABLED`,
          listen: '127.0.0.1:0',
          cache: false,
          maxConnections: 2,
        })
        try {
          const a = await client(outer)
          const b = await client(outer)
          // Two origin connections: with caching_sha2_password the first login takes the
          // full path (RSA), the second the fast path.
          await a.query('BEGIN')
          await b.query('BEGIN')
          const [rows] = await b.query('SELECT v FROM kv WHERE k = "a"')
          assert.deepEqual(rows, [{ v: 1 }])
          await a.query('COMMIT')
          await b.query('COMMIT')
          assert.equal(outer.metrics().originCreated, 2)
          assert.equal(inner.metrics().clientsTotal, 2)
          await a.end()
          await b.end()
        } finally {
          await outer.close()
        }
        await assert.rejects(
          startPool({
            upstream: `mysql://inner:wrong@127.0.0.1:${inner.port}/app?ssl-mode=DISABLED`,
            listen: '127.0.0.1:0',
          }),
          (e: Error & { code?: string }) => e.code === 'ERR_POOL_ORIGIN_AUTH'
        )
      } finally {
        await inner.close()
      }
    })
  }
})

describe('MySQL pooler cache shared through Redis', () => {
  let server: MariaDbServer
  let redis: RedisServer
  let a: RunningPool
  let b: RunningPool
  before(async () => {
    server = await startMariaDb()
    server.sql(
      'CREATE TABLE app.shared (id INT PRIMARY KEY, v INT); INSERT INTO app.shared VALUES (1, 10)'
    )
    redis = await startRedis()
    const url = `redis://:${encodeURIComponent(redis.password)}@127.0.0.1:${redis.port}`
    a = await mysqlPooler(server, { cacheStore: { redis: url } })
    b = await mysqlPooler(server, { cacheStore: { redis: url } })
  })
  after(async () => {
    await a.close()
    await b.close()
    await redis.stop()
    await server.stop()
  })

  it('a result cached by one pooler is served by another; a write through either drops it', async () => {
    const ca = await client(a)
    const cb = await client(b)
    const before = server.status('Com_select')
    const [r1] = await ca.query('SELECT v FROM shared WHERE id = 1')
    assert.deepEqual(r1, [{ v: 10 }])
    // The store is written asynchronously: wait until Redis has the entry (and its table set).
    for (let i = 0; i < 100 && Number(redis.cli('DBSIZE')) < 2; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    const [r2] = await cb.query('SELECT v FROM shared WHERE id = 1')
    assert.deepEqual(r2, [{ v: 10 }])
    assert.equal(server.status('Com_select') - before, 1, 'the other pooler answered from Redis')
    assert.equal(b.metrics().cache.misses, 1)
    await cb.query('UPDATE shared SET v = 11 WHERE id = 1')
    let r4: unknown
    for (let i = 0; i < 100; i++) {
      ;[r4] = await ca.query('SELECT v FROM shared WHERE id = 1')
      if (JSON.stringify(r4) === JSON.stringify([{ v: 11 }])) break
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.deepEqual(r4, [{ v: 11 }])
    await ca.end()
    await cb.end()
  })
})
