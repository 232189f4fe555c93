// Invalidation from the WAL against a real PostgreSQL with wal_level=logical: writes the pooler
// never sees (a direct connection, a trigger, a cascade, a function) drop cached results once the
// stream delivers their commit; the temporary slot goes away with the pooler (also on kill -9);
// a dropped stream, or one lagging past the bound, serves nothing until it is back; DDL the
// stream does not carry is found by catalog polling; and a randomized differential test.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import type { RunningPool } from '../src/index.js'
import { pgClient, pooler, sleep, type PostgresServer } from './helpers.js'
import { pgCtl, startLogicalPostgres } from '../../../test-support/logical-postgres.js'
import { DIFFERENTIAL_SCHEMA, runDifferential } from './wal-differential.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out (${ms} ms) waiting for ${what}`)
    await sleep(10)
  }
}

describe('wharf pool: invalidation from the WAL', () => {
  let server: PostgresServer
  let pool: RunningPool
  let client: pg.Client
  let direct: pg.Client

  before(async () => {
    server = await startLogicalPostgres()
    server.psql(DIFFERENTIAL_SCHEMA)
    pool = await pooler(server, { auth: 'trust', walInvalidation: { publication: 'wharf' } })
    client = await pgClient(pool)
    // Writes and reads that bypass the pooler entirely.
    direct = new pg.Client({ connectionString: `${server.connectionString}?sslmode=disable` })
    await direct.connect()
  })
  after(async () => {
    await client.end()
    await direct.end()
    await pool.close()
    await server.stop()
  })

  const commits = (): number => pool.metrics().changeStream.commits
  const read = async (sql: string, via: pg.Client): Promise<string> =>
    JSON.stringify((await via.query(sql)).rows)

  it('a write on a direct connection drops the cached read once its commit is streamed', async () => {
    assert.equal(pool.metrics().changeStream.connected, true)
    const q = 'SELECT v FROM kv WHERE k = 1'
    await read(q, client)
    const hits = pool.metrics().cache.hits
    await read(q, client)
    assert.equal(pool.metrics().cache.hits, hits + 1, 'cached')
    const control = await pooler(server, { auth: 'trust' })
    const controlClient = await pgClient(control)
    try {
      await read(q, controlClient)
      const before = commits()
      const t0 = process.hrtime.bigint()
      await direct.query('UPDATE kv SET v = 42 WHERE k = 1')
      await until(() => commits() > before, 'the commit to be streamed')
      const delayMs = Number(process.hrtime.bigint() - t0) / 1e6
      assert.match(await read(q, client), /42/, 'the WAL dropped the stale entry')
      // The same read through a pooler without the WAL is stale: the test can fail.
      assert.doesNotMatch(await read(q, controlClient), /42/)
      // The trigger's write to `side` (which this pooler never saw named) is in the same commit.
      assert.match(await read('SELECT n FROM side', client), /"n":\d+/)
      process.stdout.write(
        `# commit to invalidation (stream delivered): ${delayMs.toFixed(1)} ms\n`
      )
    } finally {
      await controlClient.end()
      await control.close()
    }
  })

  it('randomized differential: cached reads agree with the origin after each streamed write', async () => {
    const other = await pooler(server, { auth: 'trust' })
    const otherClient = await pgClient(other)
    try {
      await runDifferential({ client, other: otherClient, direct, pool }, 300, 400_000)
    } finally {
      await otherClient.end()
      await other.close()
    }
  })

  it('a dropped replication connection: nothing served stale meanwhile, and it comes back', async () => {
    const q = 'SELECT v FROM kv WHERE k = 2'
    await direct.query('INSERT INTO kv VALUES (2, 0) ON CONFLICT (k) DO UPDATE SET v = 0')
    await until(async () => (await read(q, client)) === (await read(q, direct)), 'agreement')
    await read(q, client)
    server.psql(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'wharf pool wal'"
    )
    await until(
      () => !pool.metrics().changeStream.connected,
      'the pooler to notice the stream is gone'
    )
    await direct.query('UPDATE kv SET v = 7 WHERE k = 2')
    assert.match(await read(q, client), /7/, 'no stale read while the stream is down')
    await until(() => pool.metrics().changeStream.connected, 'the stream to come back', 15_000)
    assert.ok(pool.metrics().changeStream.reconnects >= 1)
    await direct.query('UPDATE kv SET v = 8 WHERE k = 2')
    await until(async () => /8/.test(await read(q, client)), 'the next write to be seen')
  })

  it('DDL the stream does not carry (ALTER TABLE, CREATE OR REPLACE VIEW) drops what it reshaped', async () => {
    server.psql(`
      CREATE TABLE shape (id int primary key, a int); INSERT INTO shape VALUES (1, 1);
      CREATE VIEW vshape AS SELECT id, a FROM shape;
    `)
    const control = await pooler(server, { auth: 'trust' })
    const controlClient = await pgClient(control)
    try {
      const t = 'SELECT * FROM shape WHERE id = 1'
      const v = 'SELECT * FROM vshape WHERE id = 1'
      // The new tables are a schema change too: wait until reads are cached and stay cached.
      await until(async () => {
        const changes = pool.metrics().changeStream.schemaChanges
        for (const q of [t, v]) {
          await read(q, client)
          await read(q, controlClient)
        }
        const hits = pool.metrics().cache.hits
        await read(t, client)
        await read(v, client)
        await sleep(300)
        return (
          pool.metrics().cache.hits === hits + 2 &&
          pool.metrics().changeStream.schemaChanges === changes
        )
      }, 'the reads to be cached')
      const before = pool.metrics().changeStream.schemaChanges
      // No row changes: pgoutput sends nothing for these.
      await direct.query('ALTER TABLE shape ADD COLUMN b int DEFAULT 7')
      await direct.query('CREATE OR REPLACE VIEW vshape AS SELECT id, a, 42 AS extra FROM shape')
      await until(
        () => pool.metrics().changeStream.schemaChanges > before,
        'the schema change to be seen'
      )
      await until(async () => /"b":7/.test(await read(t, client)), 'the new column', 5000)
      await until(async () => /"extra":42/.test(await read(v, client)), 'the new view', 5000)
      // The pooler without the WAL still serves the old shapes: the test can fail.
      assert.doesNotMatch(await read(t, controlClient), /"b"/)
      assert.doesNotMatch(await read(v, controlClient), /extra/)
    } finally {
      await controlClient.end()
      await control.close()
    }
  })

  it('a stream lagging past the bound: the cache falls back to the origin, with a metric and a log line', async () => {
    const walsenders = (): number[] =>
      server
        .psql("SELECT pid FROM pg_stat_replication WHERE application_name = 'wharf pool wal'")
        .split('\n')
        .map((l) => Number(l.trim()))
        .filter((n) => n > 0)
    const start = async (
      maxLagMs: number,
      lines: string[]
    ): Promise<{ pool: RunningPool; client: pg.Client; pid: number }> => {
      const known = new Set(walsenders())
      const p = await pooler(server, {
        auth: 'trust',
        walInvalidation: { publication: 'wharf', maxLagMs },
        log: (line) => lines.push(line),
      })
      let pid: number | undefined
      await until(
        () => (pid = walsenders().find((x) => !known.has(x))) !== undefined,
        'its walsender'
      )
      return { pool: p, client: await pgClient(p), pid: pid ?? 0 }
    }
    const boundLines: string[] = []
    const bound = await start(300, boundLines)
    // The control: the same pooler with a bound it will not reach in this test.
    const loose = await start(3_600_000, [])
    const q = 'SELECT v FROM kv WHERE k = 3'
    const stopped: number[] = []
    try {
      await direct.query('INSERT INTO kv VALUES (3, 0) ON CONFLICT (k) DO UPDATE SET v = 0')
      for (const x of [bound, loose]) {
        await until(async () => /"v":0/.test(await read(q, x.client)), 'agreement')
        // In step (on a busy machine the 300 ms bound can be passed for a moment): a read is a hit.
        const hits = x.pool.metrics().cache.hits
        await until(async () => {
          await read(q, x.client)
          return x.pool.metrics().cache.hits > hits
        }, 'a read served from the cache while in step')
      }
      // Stall both streams: their walsenders stop, so no commit reaches the poolers.
      const lagsBefore = bound.pool.metrics().changeStream.lagging
      for (const x of [bound, loose]) {
        process.kill(x.pid, 'SIGSTOP')
        stopped.push(x.pid)
      }
      await direct.query('UPDATE kv SET v = 31 WHERE k = 3')
      await until(
        () => bound.pool.metrics().changeStream.lagging > lagsBefore,
        'the bounded pooler to count the lag',
        5000
      )
      assert.equal(bound.pool.metrics().cache.vouching, false)
      assert.match(await read(q, bound.client), /"v":31/, 'fell back to the origin')
      assert.ok(bound.pool.metrics().changeStream.lagMs > 300)
      assert.ok(
        boundLines.some((l) => /more than 300 ms behind the origin/.test(l)),
        boundLines.join('\n')
      )
      // Without the bound the stalled stream leaves the stale entry in service: the test can fail.
      assert.match(await read(q, loose.client), /"v":0/, 'the control serves the stale entry')
      for (const pid of stopped.splice(0)) process.kill(pid, 'SIGCONT')
      await until(
        () => bound.pool.metrics().cache.vouching,
        'the stream to catch up and vouch again',
        10_000
      )
      assert.ok(
        boundLines.some((l) => /caught up/.test(l)),
        boundLines.join('\n')
      )
      await until(async () => /"v":31/.test(await read(q, loose.client)), 'the control to catch up')
      await read(q, bound.client)
      const hits = bound.pool.metrics().cache.hits
      assert.match(await read(q, bound.client), /"v":31/)
      assert.equal(bound.pool.metrics().cache.hits, hits + 1, 'serves from the cache again')
    } finally {
      for (const pid of stopped) process.kill(pid, 'SIGCONT')
      for (const x of [bound, loose]) {
        await x.client.end()
        await x.pool.close()
      }
    }
  })

  it('the slot is temporary: closed or killed (-9), the pooler leaves no slot behind', async () => {
    const slots = (): number =>
      Number(server.psql('SELECT count(*) FROM pg_replication_slots').trim())
    await until(() => slots() === 1, 'one slot (this suite’s pooler)', 15_000)
    const child = spawn(
      process.execPath,
      [
        BIN,
        'pool',
        '--upstream',
        `${server.connectionString}?sslmode=disable`,
        '--listen',
        '127.0.0.1:0',
        '--wal-publication',
        'wharf',
        '--stats-interval',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    try {
      await until(() => /Ready on/.test(out), `the pooler to start: ${out}`, 20_000)
      await until(() => slots() === 2, 'its slot')
      child.kill('SIGKILL')
      await until(() => slots() === 1, 'the killed pooler’s slot to be dropped', 15_000)
    } finally {
      child.kill('SIGKILL')
    }
  })

  // Last: it restarts the origin under the suite's clients.
  it('an origin restart: the stream comes back on a new slot, and nothing cached before is served stale', async () => {
    const q = 'SELECT v FROM kv WHERE k = 3'
    await direct.query('INSERT INTO kv VALUES (3, 0) ON CONFLICT (k) DO UPDATE SET v = 0')
    await until(async () => (await read(q, client)) === (await read(q, direct)), 'agreement')
    const reconnects = pool.metrics().changeStream.reconnects
    await direct.end()
    // Fast shutdown waits until the walsender has every sent position confirmed: a pooler that
    // leaves a ping unanswered keeps the origin from stopping (this timed out before the fix).
    pgCtl(server.dataDir, 'restart', '-m', 'fast', '-w', '-t', '30')
    direct = new pg.Client({ connectionString: `${server.connectionString}?sslmode=disable` })
    await direct.connect()
    // Written before the stream is back (or just as it comes back): the entry cached before the
    // restart must not answer.
    await direct.query('UPDATE kv SET v = 11 WHERE k = 3')
    // The pooled client's origin connection died with the restart: a query may fail once.
    let fresh: string | undefined
    await until(
      async () => {
        try {
          fresh = await read(q, client)
          return true
        } catch {
          return false
        }
      },
      'the pooler to serve again after the restart',
      20_000
    )
    assert.match(fresh ?? '', /11/, 'no stale read across the restart')
    await until(
      () =>
        pool.metrics().changeStream.connected &&
        pool.metrics().changeStream.reconnects > reconnects,
      'the stream to come back',
      20_000
    )
    const slots = Number(server.psql('SELECT count(*) FROM pg_replication_slots').trim())
    assert.equal(slots, 1, 'one slot, the new one')
    await read(q, client)
    await direct.query('UPDATE kv SET v = 12 WHERE k = 3')
    await until(
      async () => /12/.test(await read(q, client)),
      'a write after the restart to be seen'
    )
  })
})
