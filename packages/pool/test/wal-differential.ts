// The randomized differential check of WAL invalidation (issue 18), shared by the test run
// (wal.test.ts, 300 sequences) and the long mode (bench/pool/wal-long.ts, 10,000): random writes
// through every path (a direct connection with a trigger, a cascade, a VOLATILE function called
// from a SELECT through the pooler, the pooler itself, a second pooler, DDL), reads through the
// cache and directly to the origin, which must agree once the stream has delivered each write.
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type pg from 'pg'
import type { RunningPool } from '../src/index.js'

/** Tables, trigger, cascade and function the property writes through (run once, as a superuser). */
export const DIFFERENTIAL_SCHEMA = `
  CREATE TABLE kv (k int primary key, v int);
  INSERT INTO kv SELECT g, 0 FROM generate_series(1, 5) g;
  CREATE TABLE side (n int); ALTER TABLE side REPLICA IDENTITY FULL; INSERT INTO side VALUES (0);
  CREATE FUNCTION bump_side() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN UPDATE side SET n = n + 1; RETURN NEW; END $$;
  CREATE TRIGGER kv_side AFTER UPDATE ON kv FOR EACH ROW EXECUTE FUNCTION bump_side();
  CREATE TABLE marker (n int); ALTER TABLE marker REPLICA IDENTITY FULL; INSERT INTO marker VALUES (0);
  CREATE TABLE child (id serial primary key, k int REFERENCES kv (k) ON DELETE CASCADE);
  CREATE FUNCTION set_kv(key int, val int) RETURNS int LANGUAGE plpgsql VOLATILE AS
    $$ BEGIN UPDATE kv SET v = val WHERE k = key; RETURN val; END $$;
  CREATE TABLE reshaped (id int primary key); INSERT INTO reshaped VALUES (1);
  CREATE PUBLICATION wharf FOR ALL TABLES;
`

export interface DifferentialContext {
  /** A client of the pooler under test (WAL invalidation on). */
  readonly client: pg.Client
  /** A client of a second pooler on the same origin (its own cache). */
  readonly other: pg.Client
  /** A direct connection to the origin. */
  readonly direct: pg.Client
  readonly pool: RunningPool
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out (${ms} ms) waiting for ${what}`)
    await sleep(5)
  }
}

const READS = [
  'SELECT k, v FROM kv ORDER BY k',
  'SELECT count(*)::int AS n FROM kv',
  'SELECT n FROM side',
  'SELECT count(*)::int AS n FROM child',
  'SELECT * FROM reshaped',
]

const key = fc.integer({ min: 1, max: 5 })
const value = fc.integer({ min: -1000, max: 1000 })
const OP = fc.oneof(
  fc.record({ kind: fc.constant('update' as const), k: key, v: value }),
  fc.record({ kind: fc.constant('delete' as const), k: key }),
  fc.record({ kind: fc.constant('insert' as const), k: key, v: value }),
  fc.record({ kind: fc.constant('child' as const), k: key }),
  fc.record({ kind: fc.constant('function' as const), k: key, v: value }),
  fc.record({ kind: fc.constant('pooler' as const), k: key, v: value }),
  fc.record({ kind: fc.constant('second pooler' as const), k: key, v: value }),
  fc.record({ kind: fc.constant('ddl' as const), column: fc.constantFrom('x', 'y', 'z') })
)
type Op = typeof OP extends fc.Arbitrary<infer T> ? T : never

/** Runs `numRuns` random sequences; a failure throws with fast-check's seed and shrunk case. */
export async function runDifferential(
  ctx: DifferentialContext,
  numRuns: number,
  timeLimitMs: number,
  seed?: number
): Promise<void> {
  const { client, other, direct, pool } = ctx
  const read = async (sql: string, via: pg.Client): Promise<string> =>
    JSON.stringify((await via.query(sql)).rows)
  const commits = (): number => pool.metrics().changeStream.commits
  const schemaChanges = (): number => pool.metrics().changeStream.schemaChanges
  const apply = async (o: Op): Promise<boolean> => {
    const n = async (p: Promise<pg.QueryResult>): Promise<boolean> => ((await p).rowCount ?? 0) > 0
    switch (o.kind) {
      case 'update':
        return n(direct.query('UPDATE kv SET v = $2 WHERE k = $1', [o.k, o.v]))
      case 'delete':
        return n(direct.query('DELETE FROM kv WHERE k = $1', [o.k]))
      case 'insert':
        return n(
          direct.query('INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO NOTHING', [o.k, o.v])
        )
      case 'child':
        return n(direct.query('INSERT INTO child (k) SELECT k FROM kv WHERE k = $1', [o.k]))
      case 'function':
        // A SELECT through the pooler that writes: the stale read the issue started from.
        await client.query('SELECT set_kv($1, $2)', [o.k, o.v])
        return true
      case 'pooler':
        return n(client.query('UPDATE kv SET v = $2 WHERE k = $1', [o.k, o.v]))
      case 'second pooler':
        return n(other.query('UPDATE kv SET v = $2 WHERE k = $1', [o.k, o.v]))
      case 'ddl': {
        const has = await direct.query(
          "SELECT 1 FROM information_schema.columns WHERE table_name = 'reshaped' AND column_name = $1",
          [o.column]
        )
        await direct.query(
          has.rowCount
            ? `ALTER TABLE reshaped DROP COLUMN ${o.column}`
            : `ALTER TABLE reshaped ADD COLUMN ${o.column} int DEFAULT 1`
        )
        return false
      }
    }
  }
  await fc.assert(
    fc.asyncProperty(fc.array(OP, { minLength: 1, maxLength: 2 }), async (ops) => {
      for (const r of READS) await read(r, client) // cache them
      for (const o of ops) {
        const before = commits()
        const ddlBefore = schemaChanges()
        // A write may commit nothing (no row matched): a marker commit after it is streamed in
        // order, so once the marker is in, so is the write.
        await apply(o)
        await direct.query('UPDATE marker SET n = n + 1')
        await until(() => commits() > before, 'the write and the marker to be streamed', 10_000)
        if (o.kind === 'ddl') {
          await until(() => schemaChanges() > ddlBefore, 'the schema change to be seen', 10_000)
        }
        for (const r of READS) assert.equal(await read(r, client), await read(r, direct), r)
      }
    }),
    {
      numRuns,
      interruptAfterTimeLimit: timeLimitMs,
      markInterruptAsFailure: true,
      ...(seed === undefined ? {} : { seed }),
    }
  )
}
