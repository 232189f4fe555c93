// The pooler with real drivers against a real PostgreSQL: simple and extended protocol, named
// prepared statements across origin connections, transactions, errors, COPY, cancel, session
// state, Flush without Sync (postgres.js), and pgbench.
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import postgres from 'postgres'
import type { RunningPool } from '../src/index.js'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

describe('wharf pool: drivers through the pooler', () => {
  let server: PostgresServer
  let pool: RunningPool

  before(async () => {
    server = await startPostgres()
    server.psql('CREATE TABLE items (id int primary key, name text)')
    pool = await pooler(server, { maxConnections: 2, cache: false })
  })
  after(async () => {
    await pool.close()
    await server.stop()
  })

  it('pg: simple and extended queries, with parameters and types', async () => {
    const client = await pgClient(pool)
    try {
      assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }])
      assert.deepEqual((await client.query('SELECT $1::int + $2::int AS sum', [40, 2])).rows, [
        { sum: 42 },
      ])
      const multi = await client.query('SELECT 1 AS a; SELECT 2 AS b')
      assert.equal((multi as unknown as unknown[]).length, 2)
    } finally {
      await client.end()
    }
  })

  it('pg: named prepared statements keep working across origin connections', async () => {
    // Two clients, two origin connections: each statement is re-Parsed where it is missing.
    const a = await pgClient(pool)
    const b = await pgClient(pool)
    try {
      const q = { name: 'by-id', text: 'SELECT $1::int * 10 AS v' }
      for (let i = 0; i < 20; i++) {
        // Hold a transaction open on one client so the other runs on a different connection.
        await a.query('BEGIN')
        assert.deepEqual((await a.query({ ...q, values: [i] })).rows, [{ v: i * 10 }])
        assert.deepEqual((await b.query({ ...q, values: [i + 1] })).rows, [{ v: (i + 1) * 10 }])
        await a.query('COMMIT')
      }
      assert.ok(pool.metrics().originConnections <= 2)
    } finally {
      await a.end()
      await b.end()
    }
  })

  it('pg: transactions commit and roll back; an error aborts the transaction until ROLLBACK', async () => {
    const client = await pgClient(pool)
    try {
      await client.query('BEGIN')
      await client.query('INSERT INTO items VALUES (1, $1)', ['one'])
      await client.query('COMMIT')
      await client.query('BEGIN')
      await client.query('INSERT INTO items VALUES (2, $1)', ['two'])
      await client.query('ROLLBACK')
      await client.query('BEGIN')
      await assert.rejects(
        client.query('INSERT INTO items VALUES (1, $1)', ['dup']),
        /duplicate key/
      )
      await assert.rejects(client.query('SELECT 1'), /current transaction is aborted/)
      await client.query('ROLLBACK')
      assert.equal(
        server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM items").trim(),
        '1'
      )
    } finally {
      await client.end()
    }
  })

  it('postgres.js: prepared (Parse/Describe/Flush, then Bind/Execute/Sync) and prepare: false', async () => {
    for (const prepare of [true, false]) {
      const sql = postgres(pool.connectionString, { prepare, max: 2, onnotice: () => undefined })
      try {
        for (let i = 0; i < 10; i++) {
          const rows = await sql`SELECT ${i}::int AS n, ${'x'.repeat(i)}::text AS s`
          assert.deepEqual(rows[0], { n: i, s: 'x'.repeat(i) })
        }
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => sql`SELECT ${i}::int AS n`)
        )
        assert.deepEqual(
          results.map((r) => (r[0] as { n?: number } | undefined)?.n),
          Array.from({ length: 20 }, (_, i) => i),
          `prepare ${prepare}: ${JSON.stringify(results.map((r) => [r.command, r.count, r[0]]))}`
        )
        await sql.begin(async (tx) => {
          await tx`INSERT INTO items VALUES (${100 + Number(prepare)}, 'tx')`
        })
        await assert.rejects(sql`SELECT * FROM no_such_table`, /does not exist/)
        assert.deepEqual((await sql`SELECT 7 AS after`)[0], { after: 7 })
      } finally {
        await sql.end()
      }
    }
  })

  it('postgres.js: COPY FROM STDIN and COPY TO STDOUT', async () => {
    const sql = postgres(pool.connectionString, { max: 1, onnotice: () => undefined })
    try {
      await sql`CREATE TABLE copied (a int, b text)`
      const writable = await sql`COPY copied FROM STDIN`.writable()
      await new Promise<void>((resolve, reject) => {
        writable.on('error', reject)
        writable.write('1\tone\n2\ttwo\n')
        writable.end('3\tthree\n', resolve)
      })
      await sleep(50)
      assert.equal((await sql`SELECT count(*)::int AS n FROM copied`)[0]?.n, 3)
      const readable = await sql`COPY copied TO STDOUT`.readable()
      let text = ''
      for await (const chunk of readable) text += String(chunk)
      assert.equal(text, '1\tone\n2\ttwo\n3\tthree\n')
    } finally {
      await sql.end()
    }
  })

  it('a CancelRequest reaches the query running for that client', async () => {
    const sql = postgres(pool.connectionString, { max: 1, onnotice: () => undefined })
    try {
      const started = Date.now()
      const query = sql`SELECT pg_sleep(10)`
      setTimeout(() => void query.cancel(), 300)
      await assert.rejects(query, /canceling statement due to user request/)
      assert.ok(Date.now() - started < 5000)
      assert.deepEqual((await sql`SELECT 1 AS ok`)[0], { ok: 1 })
    } finally {
      await sql.end()
    }
  })

  it('SET state is reset before the connection serves another client', async () => {
    const single = await pooler(server, { maxConnections: 1, cache: false })
    const a = await pgClient(single)
    const b = await pgClient(single)
    try {
      await a.query("SET statement_timeout = '4321ms'")
      assert.equal(
        (await b.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]
          ?.statement_timeout,
        '0'
      )
      assert.ok(single.metrics().resets >= 1)
    } finally {
      await a.end()
      await b.end()
      await single.close()
    }
  })

  it('refuses session features with a clear error, and the client goes on', async () => {
    const client = await pgClient(pool)
    try {
      for (const text of [
        'LISTEN x',
        'PREPARE p AS SELECT 1',
        'SELECT pg_advisory_lock(1)',
        'DISCARD ALL',
      ]) {
        await assert.rejects(client.query(text), (error: Error & { code?: string }) => {
          assert.equal(error.code, '0A000')
          assert.match(error.message, /not supported in transaction pooling mode/)
          return true
        })
      }
      assert.deepEqual(
        (await client.query<{ ok: number }>('SELECT pg_advisory_xact_lock(1), 1 AS ok')).rows[0]
          ?.ok,
        1
      )
    } finally {
      await client.end()
    }
  })

  it('pgbench runs through it (simple, extended and -M prepared)', async () => {
    const url = new URL(pool.connectionString)
    // The pooler runs in this process: pgbench must run asynchronously, never with spawnSync.
    const init = spawnSync(
      'pgbench',
      [
        '-i',
        '-s',
        '1',
        '-q',
        '-h',
        server.host,
        '-p',
        String(server.port),
        '-U',
        server.user,
        server.database,
      ],
      {
        env: { ...process.env, PGPASSWORD: server.password },
        encoding: 'utf8',
        timeout: 60_000,
      }
    )
    assert.equal(init.status, 0, init.stderr)
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) }
    for (const mode of ['simple', 'extended', 'prepared']) {
      const run = await promisify(execFile)(
        'pgbench',
        [
          '-n',
          '-S',
          '-M',
          mode,
          '-c',
          '4',
          '-j',
          '2',
          '-t',
          '100',
          '-h',
          url.hostname,
          '-p',
          url.port,
          '-U',
          decodeURIComponent(url.username),
          server.database,
        ],
        { env, encoding: 'utf8', timeout: 60_000 }
      )
      assert.match(
        run.stdout,
        /number of transactions actually processed: 400\/400/,
        `${mode}: ${run.stderr}`
      )
      assert.doesNotMatch(run.stderr, /error/i)
    }
  })
})
