// What a statement reads and writes, and what may be cached: sql.ts and catalog.ts without a
// server. A write the pooler mistakes for a read (or a partial invalidation) is a stale read, so
// each write form is pinned here; see invalidation.test.ts for the same against PostgreSQL.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { QueryCache } from '../src/core/cache.js'
import {
  EMPTY_CATALOG,
  readDependencies,
  writeEffects,
  type CatalogSnapshot,
} from '../src/pg/catalog.js'
import * as sql from '../src/pg/sql.js'

const volatility: sql.Volatility = new Map([
  ['count', 'i'],
  ['lower', 'i'],
  ['abs', 'i'],
  ['now', 's'],
  ['random', 'v'],
  ['nextval', 'v'],
  ['bump_counter', 'v'],
  ['stable_lookup', 's'],
  ['unnest', 'i'],
  ['generate_series', 'i'],
])

const writes = (text: string): readonly string[] | 'all' => {
  const w = sql.writes(sql.blank(text), volatility)
  return w === 'all' ? w : [...w].sort()
}
const reads = (text: string): readonly string[] | null => {
  const info = sql.readInfo(sql.blank(text), volatility)
  return info.relations && [...new Set(info.relations)].sort()
}

describe('pg/sql.ts: what a statement writes', () => {
  const cases: [string, readonly string[] | 'all'][] = [
    ["INSERT INTO items VALUES (1, 'a')", ['items']],
    ['INSERT INTO public.items (id) SELECT id FROM other', ['items']],
    ["UPDATE items SET name = 'x' WHERE id = 1", ['items']],
    ['UPDATE ONLY items SET name = name', ['items']],
    ['DELETE FROM items WHERE id = 1', ['items']],
    ['DELETE FROM ONLY "Mixed Case" WHERE true', ['Mixed Case']],
    ['delete from Items', ['items']],
    ['MERGE INTO items t USING src s ON t.id = s.id WHEN MATCHED THEN DELETE', ['items']],
    ['TRUNCATE items', ['items']],
    ['TRUNCATE TABLE a, ONLY b, public.c RESTART IDENTITY', ['a', 'b', 'c']],
    ['COPY items FROM STDIN', ['items']],
    ['COPY items (id, name) FROM STDIN WITH (FORMAT csv)', ['items']],
    ['COPY items TO STDOUT', []],
    ['WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone', ['items']],
    [
      'WITH a AS (UPDATE x SET v = 1 RETURNING *), b AS (INSERT INTO y SELECT * FROM a RETURNING *) SELECT * FROM b',
      ['x', 'y'],
    ],
    ['SELECT * FROM items FOR UPDATE', []],
    ['SELECT * FROM items', []],
    ['SELECT * FROM items JOIN other USING (id) WHERE id IN (SELECT id FROM third)', []],
    ['SELECT bump_counter()', 'all'],
    ['SELECT random()', []],
    ["SELECT nextval('s')", []],
    ['SELECT stable_lookup(1)', []],
    ['SELECT made_after_the_snapshot(1)', 'all'],
    ['SELECT "QuotedFn"(1)', 'all'],
    ['SELECT public.bump_counter()', 'all'],
    [
      'WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT n FROM t',
      [],
    ],
    ['SELECT x.a FROM items AS x(a, b)', []],
    ['SELECT * INTO newtable FROM items', 'all'],
    ['CALL do_things()', 'all'],
    ['DO $$ BEGIN UPDATE items SET name = 1; END $$', 'all'],
    ['CREATE TABLE t (id int)', 'all'],
    ['ALTER TABLE items ADD COLUMN x int', 'all'],
    ['BEGIN', []],
    ['COMMIT', []],
    ['SET search_path TO other', []],
    ['INSERT INTO a VALUES (1); UPDATE b SET x = 1; DELETE FROM c', ['a', 'b', 'c']],
    ['INSERT INTO items SELECT bump_counter()', 'all'],
    ['INSERT INTO items VALUES (1, bump_counter())', 'all'],
    [
      "INSERT INTO items (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
      ['items'],
    ],
    ['UPDATE items SET name = lower(name) RETURNING abs(id)', ['items']],
    ["INSERT INTO items (id) VALUES (nextval('s'))", ['items']],
    ['UPDATE items SET (id, name) = (1, 2)', ['items']],
    ['UPDATE U&"d\\0061ta" SET x = 1', 'all'],
  ]
  for (const [text, expected] of cases) {
    it(`${text} -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(writes(text), expected)
    })
  }

  it('a write keyword inside a comment or a literal is not a write', () => {
    assert.deepEqual(writes("SELECT 'DELETE FROM items' AS t FROM other"), [])
    assert.deepEqual(writes('SELECT 1 /* UPDATE items SET x = 1 */'), [])
    assert.deepEqual(writes('SELECT 1 -- DELETE FROM items'), [])
    assert.deepEqual(writes('SELECT $x$ bump_counter() $x$'), [])
  })
})

describe('pg/sql.ts: what a read reads and whether it is cached', () => {
  const cases: [string, readonly string[] | null][] = [
    ['SELECT name FROM items WHERE id = 1', ['items']],
    ['SELECT * FROM public.items', ['items']],
    ['SELECT * FROM "Mixed Case"', ['Mixed Case']],
    ['SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id)', ['a', 'b', 'c']],
    ['SELECT * FROM a, b, c WHERE a.x = b.x', ['a', 'b', 'c']],
    ['SELECT * FROM a WHERE id IN (SELECT id FROM b)', ['a', 'b']],
    ['SELECT count(*) FROM (SELECT * FROM a) s', ['a']],
    ['WITH w AS (SELECT * FROM a) SELECT * FROM w JOIN b ON true', ['a', 'b', 'w']],
    ['SELECT now()', null],
    ['SELECT random()', null],
    ['SELECT made_after_the_snapshot()', null],
    ['SELECT * FROM items FOR UPDATE', null],
    ['SELECT current_timestamp', null],
    ['SET search_path TO other; SELECT * FROM items', null],
    ['DELETE FROM items', null],
    ['SELECT lower(name) FROM items', ['items']],
    ['SELECT * FROM U&"d\\0061ta"', null],
  ]
  for (const [text, expected] of cases) {
    it(`${text} -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(reads(text), expected)
    })
  }
})

describe('pg/sql.ts: blanking', () => {
  // Comments and literals with everything in them that the scan looks for.
  const junk = fc.constantFrom(
    'DELETE FROM t',
    'bump_counter()',
    'now()',
    'FROM evil',
    "it''s",
    'JOIN x',
    ';',
    'LISTEN x',
    'INTO z'
  )
  const noise = fc.oneof(
    junk.map((j) => ` /* ${j} */ `),
    junk.map((j) => ` /* outer /* ${j} */ still */ `),
    junk.map((j) => ` -- ${j}\n`)
  )
  const statements = fc.constantFrom(
    'SELECT name FROM items WHERE id = 1',
    'SELECT * FROM a JOIN b ON a.id = b.id',
    'UPDATE items SET name = name WHERE id = 2',
    'DELETE FROM items WHERE id = 3',
    'INSERT INTO items SELECT * FROM other',
    'SELECT random() FROM items',
    'TRUNCATE items',
    'SELECT count(*) FROM a, b'
  )

  it('never changes length, and comments never change what the scan sees', () => {
    fc.assert(
      fc.property(
        statements,
        fc.array(fc.tuple(fc.nat(), noise), { maxLength: 4 }),
        (stmt, inserts) => {
          // Insert noise only at word boundaries (spaces), where a comment is legal SQL.
          const words = stmt.split(' ')
          for (const [at, n] of inserts) words.splice(1 + (at % words.length), 0, n)
          const noisy = words.join(' ')
          const blanked = sql.blank(noisy)
          assert.equal(blanked.length, noisy.length)
          assert.deepEqual(sql.writes(blanked, volatility), sql.writes(sql.blank(stmt), volatility))
          const a = sql.readInfo(blanked, volatility)
          const b = sql.readInfo(sql.blank(stmt), volatility)
          assert.equal(a.cacheable, b.cacheable)
          assert.deepEqual(a.relations, b.relations)
          assert.equal(sql.refusal(blanked), sql.refusal(sql.blank(stmt)))
        }
      ),
      { numRuns: 500 }
    )
  })

  it('string literals keep their quotes and lose their contents', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const literal = `'${text.replaceAll("'", "''")}'`
        const stmt = `SELECT ${literal} AS v FROM items`
        const blanked = sql.blank(stmt)
        assert.equal(blanked.length, stmt.length)
        assert.deepEqual(reads(stmt), ['items'])
        assert.deepEqual(sql.writes(blanked, volatility), [])
      }),
      { numRuns: 300 }
    )
  })
})

describe('pg/catalog.ts: what a write reaches', () => {
  const catalog: CatalogSnapshot = {
    ...EMPTY_CATALOG,
    viewReads: new Map([
      ['active_items', ['items']],
      ['report', ['active_items', 'orders']],
    ]),
    readByViews: new Map([
      ['items', ['active_items']],
      ['active_items', ['report']],
      ['orders', ['report']],
    ]),
    parents: new Map([['events_2026', ['events']]]),
    children: new Map([['events', ['events_2026']]]),
    fkActions: new Map([['customers', ['orders']]]),
    opaque: new Set(['audited']),
    sequences: new Set(['items_id_seq']),
  }
  const effects = (t: string[]): readonly string[] | 'all' => {
    const w = writeEffects(catalog, t)
    return w === 'all' ? w : [...w].sort()
  }

  it('a base table write reaches the views over it, transitively', () => {
    assert.deepEqual(effects(['items']), ['active_items', 'items', 'report'])
  })
  it('a write through an updatable view reaches its base table', () => {
    assert.deepEqual(effects(['active_items']), ['active_items', 'items', 'report'])
  })
  it('partitions reach their parent and a parent its partitions', () => {
    assert.deepEqual(effects(['events_2026']), ['events', 'events_2026'])
    assert.deepEqual(effects(['events']), ['events', 'events_2026'])
  })
  it('ON DELETE CASCADE reaches the referencing table', () => {
    assert.deepEqual(effects(['customers']), ['customers', 'orders', 'report'])
  })
  it('a table with a user trigger may write anything', () => {
    assert.equal(writeEffects(catalog, ['audited']), 'all')
  })
  it('reads through a view depend on its base tables; sequences are not cached', () => {
    assert.deepEqual(readDependencies(catalog, ['report'])?.sort(), [
      'active_items',
      'items',
      'orders',
      'report',
    ])
    assert.equal(readDependencies(catalog, ['items_id_seq']), null)
  })
})

describe('core/cache.ts: invalidation', () => {
  const entry = (relations: string[] | null) => ({
    description: undefined,
    rows: Buffer.from('C'),
    relations,
  })
  it('a write to any one table a cached read names drops it (joins)', () => {
    const cache = new QueryCache({
      maxAgeMs: 60_000,
      staleWhileRevalidateMs: 0,
      maxBytes: 1e6,
      maxEntryBytes: 1e5,
    })
    cache.set('join', entry(['a', 'b']))
    cache.set('other', entry(['c']))
    cache.invalidate(['b'])
    assert.equal(cache.get('join'), undefined)
    assert.ok(cache.get('other'))
    cache.set('unknown', entry(null))
    cache.invalidate(['zzz'])
    assert.equal(cache.get('unknown'), undefined, 'unknown relations drop on any write')
    cache.invalidate('all')
    assert.equal(cache.get('other'), undefined)
  })
})
