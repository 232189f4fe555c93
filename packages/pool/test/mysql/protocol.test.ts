// The MySQL front end against a real MariaDB with the real mysql2 and mysql drivers: login
// methods, queries and results, prepared statements across pooled connections, transaction
// pooling and resets, refusals, the 16 MiB packet split and bad input.
import assert from 'node:assert/strict'
import net from 'node:net'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import mysqlLegacy from 'mysql'
import type { RunningPool } from '../../src/index.js'
import { waitFor } from '../../../../test-support/servers.js'
import {
  client,
  direct,
  errno,
  mysqlPooler,
  sleep,
  startMariaDb,
  tappedClient,
  type MariaDbServer,
} from './helpers.js'

/** Does `bytes` contain a packet with this payload (any sequence id)? */
function hasPacket(bytes: Buffer, payload: number[]): boolean {
  for (let at = 0; at + 4 <= bytes.length;) {
    const length = bytes.readUIntLE(at, 3)
    const body = bytes.subarray(at + 4, at + 4 + length)
    if (body.equals(Buffer.from(payload))) return true
    at += 4 + length
  }
  return false
}

describe('MySQL pooler', () => {
  let server: MariaDbServer
  let pool: RunningPool
  before(async () => {
    server = await startMariaDb()
    server.sql(
      'CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO app.items VALUES (1, "one"), (2, "two"); CREATE TABLE other.things (id INT); INSERT INTO other.things VALUES (7)'
    )
    pool = await mysqlPooler(server, { cache: false, maxConnections: 4 })
  })
  after(async () => {
    await pool.close()
    await server.stop()
  })

  it('test-support: MariaDB runs on loopback with a mysql_native_password user', async () => {
    assert.match(server.sql('SELECT VERSION()'), /MariaDB/)
    const plugin = server.sql(`SELECT plugin FROM mysql.user WHERE user = '${server.user}'`)
    assert.equal(plugin, 'mysql_native_password')
    const conn = await direct(server)
    const [rows] = await conn.query('SELECT CURRENT_USER() AS u')
    assert.match((rows as { u: string }[])[0]?.u ?? '', /^native@/)
    await conn.end()
    assert.ok(server.status('Com_select') >= 1)
  })

  it('answers text queries, multi-statements with several result sets, and errors', async () => {
    const conn = await client(pool)
    const [rows] = await conn.query('SELECT id, name FROM items ORDER BY id')
    assert.deepEqual(rows, [
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ])
    const [multi] = await conn.query(
      'SELECT 1 AS a; SELECT 2 AS b; SELECT name FROM items WHERE id = 2'
    )
    assert.deepEqual(multi, [[{ a: 1 }], [{ b: 2 }], [{ name: 'two' }]])
    assert.equal(await errno(conn.query('SELECT * FROM no_such_table')), 1146)
    // The connection still works after an error.
    const [again] = await conn.query('SELECT 3 AS c')
    assert.deepEqual(again, [{ c: 3 }])
    await conn.ping()
    await conn.end()
  })

  it('caching_sha2_password: the full path first (RSA key, no TLS), the fast path after', async () => {
    const p = await mysqlPooler(server, { cache: false, authPlugins: ['caching_sha2_password'] })
    try {
      const first = await tappedClient(p)
      assert.ok(hasPacket(first.received(), [0x01, 0x04]), 'perform full authentication')
      assert.ok(!hasPacket(first.received(), [0x01, 0x03]))
      const [rows] = await first.conn.query('SELECT 1 AS one')
      assert.deepEqual(rows, [{ one: 1 }])
      await first.conn.end()
      const second = await tappedClient(p)
      assert.ok(hasPacket(second.received(), [0x01, 0x03]), 'fast auth success')
      await second.conn.end()
      assert.equal(await errno(client(p, { password: 'wrong' })), 1045)
      assert.equal(await errno(client(p, { user: 'someone' })), 1045)
    } finally {
      await p.close()
    }
  })

  it('mysql_native_password, and the `mysql` driver (no plugin auth)', async () => {
    const p = await mysqlPooler(server, { cache: false, authPlugins: ['mysql_native_password'] })
    try {
      const conn = await client(p)
      const [rows] = await conn.query('SELECT 2 AS two')
      assert.deepEqual(rows, [{ two: 2 }])
      await conn.end()
      assert.equal(await errno(client(p, { password: 'wrong' })), 1045)
    } finally {
      await p.close()
    }
    const legacy = mysqlLegacy.createConnection({
      host: '127.0.0.1',
      port: pool.port,
      user: pool.user,
      password: pool.password,
      database: pool.database,
    })
    const rows = await new Promise<unknown>((resolve, reject) =>
      legacy.query('SELECT name FROM items WHERE id = ?', [1], (e, r) =>
        e ? reject(e) : resolve(r)
      )
    )
    assert.deepEqual(JSON.parse(JSON.stringify(rows)), [{ name: 'one' }])
    await new Promise<void>((resolve) => legacy.end(() => resolve()))
  })

  it('shares prepared statements across origin connections', async () => {
    const p = await mysqlPooler(server, { cache: false, maxConnections: 2 })
    try {
      const a = await client(p)
      const b = await client(p)
      const prepares = server.status('Com_stmt_prepare')
      const [r1] = await a.execute('SELECT name FROM items WHERE id = ?', [1])
      assert.deepEqual(r1, [{ name: 'one' }])
      // b holds the connection a used, inside a transaction: a's next execute runs elsewhere.
      await b.query('BEGIN')
      await b.query('SELECT 1')
      const [r2] = await a.execute('SELECT name FROM items WHERE id = ?', [2])
      assert.deepEqual(r2, [{ name: 'two' }])
      await b.query('COMMIT')
      assert.equal(p.metrics().originConnections, 2)
      assert.equal(server.status('Com_stmt_prepare') - prepares, 2, 'prepared once per connection')
      // Executing again where it is prepared does not prepare again.
      const [r3] = await a.execute('SELECT name FROM items WHERE id = ?', [1])
      assert.deepEqual(r3, [{ name: 'one' }])
      assert.equal(server.status('Com_stmt_prepare') - prepares, 2)
      // Writes through prepared statements, NULL parameters, and an unknown statement.
      await a.execute('INSERT INTO items VALUES (?, ?)', [50, null])
      const [r4] = await b.execute('SELECT name FROM items WHERE id = ?', [50])
      assert.deepEqual(r4, [{ name: null }])
      await a.execute('DELETE FROM items WHERE id = ?', [50])
      await a.end()
      await b.end()
    } finally {
      await p.close()
    }
  })

  it('keeps the connection inside a transaction and gives it back after', async () => {
    const p = await mysqlPooler(server, {
      cache: false,
      maxConnections: 1,
      acquireTimeoutMs: 10_000,
    })
    try {
      const a = await client(p)
      const b = await client(p)
      await a.query('START TRANSACTION')
      await a.query('INSERT INTO items VALUES (10, "ten")')
      let bDone = false
      const bQuery = b.query('SELECT COUNT(*) AS n FROM items WHERE id = 10').then((r) => {
        bDone = true
        return r
      })
      await sleep(300)
      assert.equal(bDone, false, 'the only connection is in a transaction')
      const [mine] = await a.query('SELECT COUNT(*) AS n FROM items WHERE id = 10')
      assert.deepEqual(mine, [{ n: 1 }])
      await a.query('ROLLBACK')
      const [[count]] = (await bQuery) as unknown as [[{ n: number }]]
      assert.deepEqual(count, { n: 0 })
      await a.end()
      await b.end()
    } finally {
      await p.close()
    }
  })

  it('keeps session state with its client, then resets it before the next client', async () => {
    const p = await mysqlPooler(server, { cache: false, maxConnections: 1 })
    try {
      const a = await client(p)
      await a.query('SET @who = "a"')
      await a.query("SET SESSION sql_mode = 'ANSI_QUOTES'")
      const [v] = await a.query('SELECT @who AS who, @@session.sql_mode AS mode')
      assert.deepEqual(v, [{ who: 'a', mode: 'ANSI_QUOTES' }])
      const resets = p.metrics().resets
      await a.end()
      await waitFor(
        () => p.metrics().resets > resets && p.metrics().originIdle === 1,
        5000,
        'reset'
      )
      const b = await client(p)
      const [w] = await b.query(
        'SELECT @who AS who, @@session.sql_mode = @@global.sql_mode AS same'
      )
      assert.deepEqual(w, [{ who: null, same: 1 }])
      await b.end()
    } finally {
      await p.close()
    }
  })

  it('keeps the connection across LOCK TABLES until UNLOCK TABLES', async () => {
    const p = await mysqlPooler(server, {
      cache: false,
      maxConnections: 1,
      acquireTimeoutMs: 10_000,
    })
    try {
      const a = await client(p)
      const b = await client(p)
      await a.query('LOCK TABLES items READ')
      let bDone = false
      const bQuery = b.query('SELECT 1 AS one').then(() => (bDone = true))
      await sleep(300)
      assert.equal(bDone, false)
      await a.query('SELECT COUNT(*) FROM items')
      await a.query('UNLOCK TABLES')
      await bQuery
      assert.equal(bDone, true)
      await a.end()
      await b.end()
    } finally {
      await p.close()
    }
  })

  it('rolls back a client that vanished mid-transaction, and leaves nothing dirty', async () => {
    const p = await mysqlPooler(server, { cache: false, maxConnections: 1 })
    try {
      const a = await client(p)
      await a.query('BEGIN')
      await a.query('INSERT INTO items VALUES (11, "eleven")')
      a.destroy()
      const b = await client(p)
      const [rows] = await b.query(
        'SELECT COUNT(*) AS n, @@in_transaction AS tx FROM items WHERE id = 11'
      )
      assert.deepEqual(rows, [{ n: 0, tx: 0 }])
      await b.end()
    } finally {
      await p.close()
    }
  })

  it('USE and COM_INIT_DB follow the client across pooled connections', async () => {
    const a = await client(pool)
    await a.query('USE other')
    const [r1] = await a.query('SELECT DATABASE() AS db, (SELECT id FROM things) AS id')
    assert.deepEqual(r1, [{ db: 'other', id: 7 }])
    // Another client on the same origin connection is still in its own database.
    const b = await client(pool)
    const [r2] = await b.query('SELECT DATABASE() AS db')
    assert.deepEqual(r2, [{ db: 'app' }])
    const [r3] = await a.query('SELECT DATABASE() AS db')
    assert.deepEqual(r3, [{ db: 'other' }])
    assert.equal(await errno(a.query('USE no_such_db')), 1049)
    await a.end()
    await b.end()
    const c = await client(pool, { database: 'other' })
    const [r4] = await c.query('SELECT DATABASE() AS db')
    assert.deepEqual(r4, [{ db: 'other' }])
    await c.end()
    assert.equal(await errno(client(pool, { database: 'no_such_db' })), 1049)
  })

  it('refuses LOCAL INFILE, SQL-level PREPARE and COM_CHANGE_USER with MySQL errors', async () => {
    const conn = await client(pool, { infileStreamFactory: undefined })
    const infile = await conn
      .query("LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE items")
      .catch((e: Error & { errno?: number }) => e)
    assert.ok(infile instanceof Error)
    assert.equal((infile as { errno?: number }).errno, 1235)
    assert.match(infile.message, /LOAD DATA LOCAL INFILE/)
    assert.equal(await errno(conn.query("PREPARE s FROM 'SELECT 1'")), 1235)
    assert.equal(await errno(conn.query('EXECUTE s')), 1235)
    // Still usable.
    const [rows] = await conn.query('SELECT 5 AS five')
    assert.deepEqual(rows, [{ five: 5 }])
    assert.equal(await errno(conn.changeUser({ user: 'root' })), 1235)
    conn.destroy()
  })

  it('splits and joins packets of 16 MiB and more, both ways', async () => {
    const conn = await client(pool)
    const big = 'x'.repeat(17 * 1024 * 1024)
    const [r1] = await conn.query(`SELECT LENGTH('${big}') AS n`)
    assert.deepEqual(r1, [{ n: big.length + 0 }])
    const [r2] = await conn.query('SELECT REPEAT("b", 17 * 1024 * 1024) AS s')
    const s = (r2 as { s: string }[])[0]?.s ?? ''
    assert.equal(s.length, 17 * 1024 * 1024)
    assert.ok(/^b+$/.test(s))
    // Exactly 16 MiB - 1 of payload: the split needs an empty packet after it.
    const exact = 0xffffff - 1 - "SELECT LENGTH('') AS n".length
    const [r3] = await conn.query(`SELECT LENGTH('${'y'.repeat(exact)}') AS n`)
    assert.deepEqual(r3, [{ n: exact }])
    await conn.end()
  })

  it('answers an oversized packet and a malformed handshake with MySQL errors', async () => {
    const p = await mysqlPooler(server, { cache: false, maxMessageBytes: 1024 * 1024 })
    try {
      const conn = await client(p)
      assert.equal(await errno(conn.query(`SELECT '${'z'.repeat(2 * 1024 * 1024)}'`)), 1153)
      conn.destroy()
      // A handshake response far too short to be one.
      const socket = net.connect({ host: '127.0.0.1', port: p.port })
      const chunks: Buffer[] = []
      socket.on('data', (c: Buffer) => chunks.push(c))
      await once(socket, 'connect')
      await waitFor(() => chunks.length > 0, 5000, 'greeting')
      socket.write(Buffer.from([3, 0, 0, 1, 1, 2, 3]))
      await once(socket, 'close')
      const all = Buffer.concat(chunks)
      const greetingLength = all.readUIntLE(0, 3)
      const err = all.subarray(4 + greetingLength + 4)
      assert.equal(err[0], 0xff)
      assert.equal(err.readUInt16LE(1), 1043)
      // An unknown command gets ER_UNKNOWN_COM_ERROR and the connection stays usable.
      const c2 = await client(p)
      const [rows] = await c2.query('SELECT 1 AS x')
      assert.deepEqual(rows, [{ x: 1 }])
      c2.destroy()
    } finally {
      await p.close()
    }
  })

  it('tells a client whose transaction died with the origin, instead of carrying on', async () => {
    const p = await mysqlPooler(server, { cache: false })
    try {
      const conn = await client(p)
      await conn.query('BEGIN')
      await conn.query('INSERT INTO items VALUES (20, "twenty")')
      await server.restart()
      await waitFor(() => p.metrics().originConnections === 0, 10_000, 'the pool to notice')
      assert.equal(await errno(conn.query('COMMIT')), 2013)
      const [rows] = await conn.query('SELECT COUNT(*) AS n FROM items WHERE id = 20')
      assert.deepEqual(rows, [{ n: 0 }])
      await conn.end()
    } finally {
      await p.close()
    }
  })

  it('recovers when the origin restarts', async () => {
    const p = await mysqlPooler(server, { cache: false })
    try {
      const conn = await client(p)
      await conn.query('SELECT 1')
      await server.restart()
      await waitFor(() => p.metrics().originConnections === 0, 10_000, 'the pool to notice')
      const [rows] = await conn.query('SELECT name FROM items WHERE id = 1')
      assert.deepEqual(rows, [{ name: 'one' }])
      await conn.end()
    } finally {
      await p.close()
    }
  })
})

describe('MySQL pooler with TLS', () => {
  let server: MariaDbServer
  before(async () => {
    server = await startMariaDb({ tls: true })
  })
  after(async () => {
    await server.stop()
  })

  it('ssl-mode: VERIFY_IDENTITY with the CA works; without it the certificate is refused', async () => {
    const { testPki } = await import('../../../../test-support/certs.js')
    const pki = testPki()
    const p = await mysqlPooler(server, {
      cache: false,
      upstream: `${server.connectionString.replace('127.0.0.1', 'localhost')}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${pki.caPath}`,
    })
    try {
      const conn = await client(p)
      const [rows] = await conn.query("SHOW SESSION STATUS LIKE 'Ssl_version'")
      assert.match((rows as { Value: string }[])[0]?.Value ?? '', /^TLSv1\.[23]$/)
      await conn.end()
    } finally {
      await p.close()
    }
    await assert.rejects(
      mysqlPooler(server, { upstream: `${server.connectionString}?ssl-mode=VERIFY_CA` }),
      /certificate/
    )
    const required = await mysqlPooler(server, {
      cache: false,
      upstream: `${server.connectionString}?ssl-mode=REQUIRED`,
    })
    const conn = await client(required)
    const [rows] = await conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    assert.notEqual((rows as { Value: string }[])[0]?.Value ?? '', '')
    await conn.end()
    await required.close()
  })

  it('TLS to clients: caching_sha2_password full path sends the password inside TLS', async () => {
    const { testPki } = await import('../../../../test-support/certs.js')
    const pki = testPki()
    const p = await mysqlPooler(server, {
      cache: false,
      upstream: `${server.connectionString}?ssl-mode=REQUIRED`,
      tls: { key: pki.localhost.key, cert: pki.localhost.cert },
      authPlugins: ['caching_sha2_password'],
    })
    try {
      const conn = await client(p, { ssl: { ca: pki.ca }, host: 'localhost' })
      const [rows] = await conn.query('SELECT 1 AS one')
      assert.deepEqual(rows, [{ one: 1 }])
      await conn.end()
    } finally {
      await p.close()
    }
  })
})
