// Invalidation from the WAL against a real PostgreSQL with wal_level=logical: writes the pooler
// never sees (a direct connection, a trigger, a cascade, a function) drop cached results once the
// stream delivers their commit; the temporary slot goes away with the pooler (also on kill -9);
// a dropped stream serves nothing until it is back; and a randomized differential test.
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import pg from 'pg'
import type { RunningPool } from '../src/index.js'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')

function pgCtl(dataDir: string, ...args: string[]): void {
  const base = '/usr/lib/postgresql'
  const version = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a))[0]
  if (version === undefined) throw new Error('pg_ctl not found under /usr/lib/postgresql')
  const cmd = join(base, version, 'bin', 'pg_ctl')
  const options = { timeout: 60_000, stdio: 'ignore' } as const
  if (process.getuid?.() === 0)
    execFileSync('runuser', ['-u', 'postgres', '--', cmd, '-D', dataDir, ...args], options)
  else execFileSync(cmd, ['-D', dataDir, ...args], options)
}

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
    server = await startPostgres()
    server.psql('ALTER SYSTEM SET wal_level = logical')
    pgCtl(server.dataDir, 'restart', '-m', 'fast', '-w', '-t', '60')
    server.psql(`
      CREATE TABLE kv (k int primary key, v int);
      INSERT INTO kv SELECT g, 0 FROM generate_series(1, 5) g;
      CREATE TABLE side (n int); ALTER TABLE side REPLICA IDENTITY FULL; INSERT INTO side VALUES (0);
      CREATE FUNCTION bump_side() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN UPDATE side SET n = n + 1; RETURN NEW; END $$;
      CREATE TRIGGER kv_side AFTER UPDATE ON kv FOR EACH ROW EXECUTE FUNCTION bump_side();
      CREATE TABLE marker (n int); ALTER TABLE marker REPLICA IDENTITY FULL; INSERT INTO marker VALUES (0);
      CREATE PUBLICATION wharf FOR ALL TABLES;
    `)
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
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('update' as const),
        k: fc.integer({ min: 1, max: 5 }),
        v: fc.integer({ min: -1000, max: 1000 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), k: fc.integer({ min: 1, max: 5 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        k: fc.integer({ min: 1, max: 5 }),
        v: fc.integer(),
      }),
      fc.record({
        kind: fc.constant('pooler' as const),
        k: fc.integer({ min: 1, max: 5 }),
        v: fc.integer({ min: 0, max: 9 }),
      })
    )
    const reads = [
      'SELECT k, v FROM kv ORDER BY k',
      'SELECT count(*)::int AS n FROM kv',
      'SELECT n FROM side',
    ]
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 2 }), async (ops) => {
        for (const r of reads) await read(r, client) // cache them
        for (const o of ops) {
          const before = commits()
          let changed: number | null
          if (o.kind === 'update')
            changed = (await direct.query('UPDATE kv SET v = $2 WHERE k = $1', [o.k, o.v])).rowCount
          else if (o.kind === 'delete')
            changed = (await direct.query('DELETE FROM kv WHERE k = $1', [o.k])).rowCount
          else if (o.kind === 'insert')
            changed = (
              await direct.query('INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO NOTHING', [
                o.k,
                o.v % 1000,
              ])
            ).rowCount
          else
            changed = (await client.query('UPDATE kv SET v = $2 WHERE k = $1', [o.k, o.v])).rowCount
          // A marker commit after it: once the marker is streamed, so is the write (in order).
          await direct.query('UPDATE marker SET n = n + 1')
          const expected = before + ((changed ?? 0) > 0 ? 1 : 0) + 1
          await until(
            () => commits() >= expected,
            'the write and the marker to be streamed',
            10_000
          )
          for (const r of reads) assert.equal(await read(r, client), await read(r, direct), r)
        }
      }),
      { numRuns: 300, interruptAfterTimeLimit: 200_000, markInterruptAsFailure: true }
    )
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

  it('the slot is temporary: closed or killed (-9), the pooler leaves no slot behind', async () => {
    const slots = (): number =>
      Number(server.psql('SELECT count(*) FROM pg_replication_slots').trim())
    await until(() => slots() === 1, 'one slot (this suite’s pooler)')
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
})
