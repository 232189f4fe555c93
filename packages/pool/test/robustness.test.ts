// Hostile and unlucky conditions: malformed and oversized messages, a client that vanishes inside
// a transaction, origin connections that die, pool exhaustion, bad credentials, and TLS on both
// sides (verified, and refused when the origin's certificate is not trusted).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { testPki } from '../../../test-support/certs.js'
import { startPool, type RunningPool } from '../src/index.js'
import {
  pgClient,
  pooler,
  rawClient,
  sleep,
  startPostgres,
  startupPacket,
  type PostgresServer,
} from './helpers.js'

const pki = testPki()

describe('wharf pool: bad input and failures', () => {
  let server: PostgresServer
  let pool: RunningPool

  before(async () => {
    server = await startPostgres({ tls: true })
    server.psql('CREATE TABLE t (id int primary key)')
    pool = await pooler(server, {
      maxConnections: 1,
      acquireTimeoutMs: 300,
      cache: false,
      auth: 'trust',
      maxMessageBytes: 64 * 1024,
    })
  })
  after(async () => {
    await pool.close()
    await server.stop()
  })

  async function fatalFor(bytes: Buffer[]): Promise<string> {
    const raw = await rawClient(pool.port)
    for (const b of bytes) raw.socket.write(b)
    await Promise.race([
      raw.closed,
      sleep(3000).then(() => assert.fail('the pooler kept a bad connection open')),
    ])
    return raw.received().toString('latin1')
  }

  it('refuses malformed and oversized messages with a FATAL error and closes', async () => {
    const badStartup = Buffer.alloc(8)
    badStartup.writeInt32BE(3)
    assert.match(await fatalFor([badStartup]), /startup packet declares 3 bytes/)
    const hugeStartup = Buffer.alloc(8)
    hugeStartup.writeInt32BE(0x7fffffff)
    assert.match(await fatalFor([hugeStartup]), /startup packet declares 2147483647 bytes/)
    const startup = startupPacket(pool.user, pool.database)
    const shortMessage = Buffer.from([0x51, 0, 0, 0, 2])
    assert.match(await fatalFor([startup, shortMessage]), /declares 2 bytes/)
    // A declared 1 GiB query is refused before a byte of it is buffered.
    const hugeQuery = Buffer.from([0x51, 0x40, 0, 0, 0])
    assert.match(await fatalFor([startup, hugeQuery]), /declares 1073741824 bytes \(limit 65536\)/)
    const unknown = Buffer.from([0x7a, 0, 0, 0, 4])
    assert.match(await fatalFor([startup, unknown]), /unexpected message 'z'/)
    // Nothing leaked: the single origin connection still serves a client.
    const client = await pgClient(pool)
    assert.deepEqual((await client.query('SELECT 1 AS ok')).rows, [{ ok: 1 }])
    await client.end()
  })

  it('a client that vanishes inside a transaction: rolled back, and the connection is reused', async () => {
    const client = await pgClient(pool)
    await client.query('BEGIN')
    await client.query('INSERT INTO t VALUES (1)')
    // Gone without COMMIT or Terminate.
    ;(
      client as unknown as { connection: { stream: { destroy(): void } } }
    ).connection.stream.destroy()
    await sleep(100)
    const next = await pgClient(pool)
    assert.deepEqual((await next.query('SELECT count(*)::int AS n FROM t')).rows, [{ n: 0 }])
    assert.equal(pool.metrics().originConnections, 1)
    await next.end()
  })

  it('origin connections that die are replaced on the next request (origin restart)', async () => {
    const client = await pgClient(pool)
    assert.deepEqual((await client.query('SELECT 1 AS a')).rows, [{ a: 1 }])
    server.psql(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'wharf pool'"
    )
    await sleep(200)
    assert.deepEqual((await client.query('SELECT 2 AS b')).rows, [{ b: 2 }])
    assert.ok(pool.metrics().originCreated >= 2)
    await client.end()
  })

  it('pool exhaustion: a waiting client fails after acquireTimeoutMs with a clear error', async () => {
    const holder = await pgClient(pool)
    const waiter = await pgClient(pool)
    await holder.query('BEGIN')
    const started = Date.now()
    await assert.rejects(waiter.query('SELECT 1'), (error: Error & { code?: string }) => {
      assert.equal(error.code, '53300')
      assert.match(error.message, /Failed to acquire a connection from the pool within 300 ms/)
      return true
    })
    assert.ok(Date.now() - started < 2000)
    await holder.query('COMMIT')
    assert.deepEqual((await waiter.query('SELECT 3 AS c')).rows, [{ c: 3 }])
    assert.ok(pool.metrics().acquireTimeouts >= 1)
    await holder.end()
    await waiter.end()
  })

  it('client authentication: SCRAM with the right password only', async () => {
    const guarded = await pooler(server, {
      cache: false,
      auth: { user: 'app', password: 's3cret' },
    })
    try {
      const url = new URL(guarded.connectionString)
      const ok = new pg.Client({
        host: url.hostname,
        port: Number(url.port),
        user: 'app',
        password: 's3cret',
        database: guarded.database,
      })
      await ok.connect()
      assert.deepEqual((await ok.query('SELECT 1 AS ok')).rows, [{ ok: 1 }])
      await ok.end()
      const bad = new pg.Client({
        host: url.hostname,
        port: Number(url.port),
        user: 'app',
        password: 'wrong',
        database: guarded.database,
      })
      bad.on('error', () => undefined)
      await assert.rejects(bad.connect(), /password authentication failed/)
      // The default: a random password in the connection string.
      const auto = await pooler(server, { cache: false })
      const client = await pgClient(auto)
      assert.deepEqual((await client.query('SELECT 2 AS two')).rows, [{ two: 2 }])
      await client.end()
      await auto.close()
    } finally {
      await guarded.close()
    }
  })

  it('TLS to clients (verified by the client) and to the origin (verified by the pooler)', async () => {
    const secure = await startPool({
      upstream: `${server.connectionString}?sslmode=require&sslrootcert=${encodeURIComponent(pki.caPath)}`,
      listen: '127.0.0.1:0',
      cache: false,
      tls: { key: pki.localhost.key, cert: pki.localhost.cert },
    })
    try {
      const url = new URL(secure.connectionString)
      const client = new pg.Client({
        host: 'localhost',
        port: Number(url.port),
        user: secure.user,
        password: secure.password,
        database: secure.database,
        ssl: { ca: pki.ca },
      })
      await client.connect()
      const row = (
        await client.query<{ ssl: boolean }>(
          'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
        )
      ).rows[0]
      assert.equal(row?.ssl, true, 'the origin connection is TLS')
      assert.equal(
        (client as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream
          .encrypted,
        true
      )
      await client.end()
    } finally {
      await secure.close()
    }
    // An origin whose certificate the pooler does not trust is refused at start.
    await assert.rejects(
      startPool({ upstream: `${server.connectionString}?sslmode=require`, listen: '127.0.0.1:0' }),
      (error: Error & { code?: string }) => {
        assert.match(error.message, /certificate/i)
        return true
      }
    )
  })

  it('rejects bad settings with ERR_POOL_CONFIG', async () => {
    for (const options of [
      { upstream: 'mssql://x@127.0.0.1/db' },
      { upstream: 'not a url' },
      { upstream: server.connectionString, listen: 'nope' },
      { upstream: server.connectionString, maxConnections: 0 },
      { upstream: `${server.connectionString}?sslmode=bogus` },
      { upstream: server.connectionString, auth: 'trust' as const, listen: '0.0.0.0:0' },
    ]) {
      await assert.rejects(
        startPool({ listen: '127.0.0.1:0', ...options }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'ERR_POOL_CONFIG', error.message)
          return true
        }
      )
    }
  })
})
