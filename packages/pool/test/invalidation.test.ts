// Writes the pooler cannot name must still drop what they make stale (issue 18's conservative
// rules): DELETE, INSERT, MERGE, TRUNCATE, data-modifying CTEs, joins, views (read through and
// written through), triggers, ON DELETE CASCADE, partitions, and a volatile function created after
// the pooler started. Each case caches a read, checks it is served from the cache, writes, and
// checks the next read through the pooler is the origin's current answer.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import type { RunningPool } from '../src/index.js'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

describe('wharf pool: invalidation of writes it cannot name', () => {
  let server: PostgresServer
  let pool: RunningPool
  let client: pg.Client
  let writer: pg.Client

  before(async () => {
    server = await startPostgres()
    server.psql(`
      CREATE TABLE items (id int primary key, name text);
      CREATE TABLE other (id int primary key, v int);
      CREATE VIEW item_names AS SELECT id, name FROM items;
      CREATE TABLE audit (n int);
      INSERT INTO audit VALUES (0);
      CREATE TABLE watched (id int);
      CREATE FUNCTION count_write() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN UPDATE audit SET n = n + 1; RETURN NEW; END $$;
      CREATE TRIGGER watched_audit AFTER INSERT ON watched FOR EACH ROW EXECUTE FUNCTION count_write();
      CREATE TABLE parent (id int primary key);
      CREATE TABLE child (id int, parent_id int REFERENCES parent ON DELETE CASCADE);
      CREATE TABLE events (at int, v text) PARTITION BY RANGE (at);
      CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100);
    `)
    pool = await pooler(server, { auth: 'trust' })
    client = await pgClient(pool)
    writer = await pgClient(pool)
  })
  after(async () => {
    await client.end()
    await writer.end()
    await pool.close()
    await server.stop()
  })

  /** Reads twice through the pooler; the second must be a cache hit. Returns the rows' JSON. */
  async function cachedRead(text: string): Promise<string> {
    const first = JSON.stringify((await client.query(text)).rows)
    const hits = pool.metrics().cache.hits
    const second = JSON.stringify((await client.query(text)).rows)
    assert.equal(second, first)
    assert.equal(pool.metrics().cache.hits, hits + 1, `${text} was not served from the cache`)
    return first
  }
  const direct = (text: string): string => server.psql(text).trim()
  /** The pooler's answer equals the origin's own (psql on the Unix socket). */
  async function agrees(text: string, psqlText: string, expected: string): Promise<void> {
    const through = JSON.stringify((await client.query(text)).rows)
    assert.equal(direct(psqlText), expected, 'the origin has the new value')
    assert.match(through, new RegExp(expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  }

  it('DELETE, INSERT, MERGE, TRUNCATE and a data-modifying CTE drop what they make stale', async () => {
    server.psql("TRUNCATE items; INSERT INTO items VALUES (1, 'a'), (2, 'b')")
    const count = 'SELECT count(*)::int AS n FROM items'
    assert.match(await cachedRead(count), /"n":2/)
    await writer.query('DELETE FROM items WHERE id = 2')
    await agrees(count, 'SELECT count(*) FROM items', '1')
    await cachedRead(count)
    await writer.query("INSERT INTO items VALUES (3, 'c'), (4, 'd')")
    await agrees(count, 'SELECT count(*) FROM items', '3')
    await cachedRead(count)
    await writer.query(
      'MERGE INTO items t USING (SELECT 3 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE'
    )
    await agrees(count, 'SELECT count(*) FROM items', '2')
    await cachedRead(count)
    await writer.query(
      'WITH gone AS (DELETE FROM items WHERE id = 4 RETURNING id) SELECT * FROM gone'
    )
    await agrees(count, 'SELECT count(*) FROM items', '1')
    await cachedRead(count)
    await writer.query('TRUNCATE items')
    await agrees(count, 'SELECT count(*) FROM items', '0')
  })

  it('a JOIN is dropped when any one of its tables is written', async () => {
    server.psql(
      "TRUNCATE items, other; INSERT INTO items VALUES (1, 'a'); INSERT INTO other VALUES (1, 10)"
    )
    const join = 'SELECT i.name, o.v FROM items i JOIN other o ON o.id = i.id'
    assert.match(await cachedRead(join), /"v":10/)
    await writer.query('UPDATE other SET v = 11')
    await agrees(join, 'SELECT v FROM other', '11')
    await cachedRead(join)
    await writer.query("UPDATE items SET name = 'renamed'")
    await agrees(join, 'SELECT name FROM items', 'renamed')
  })

  it('views: a read through a view and a write through an updatable view', async () => {
    server.psql("TRUNCATE items; INSERT INTO items VALUES (1, 'a')")
    const viaView = 'SELECT name FROM item_names WHERE id = 1'
    assert.match(await cachedRead(viaView), /"a"/)
    await writer.query("UPDATE items SET name = 'base-write'")
    await agrees(viaView, 'SELECT name FROM items', 'base-write')
    const base = 'SELECT name FROM items WHERE id = 1'
    await cachedRead(base)
    await writer.query("UPDATE item_names SET name = 'view-write' WHERE id = 1")
    await agrees(base, 'SELECT name FROM items', 'view-write')
  })

  it('a trigger that writes another table, and ON DELETE CASCADE', async () => {
    const audit = 'SELECT n FROM audit'
    const before = await cachedRead(audit)
    await writer.query('INSERT INTO watched VALUES (1)')
    const now = direct('SELECT n FROM audit')
    assert.notEqual(JSON.stringify([{ n: Number(now) }]), before)
    await agrees(audit, 'SELECT n FROM audit', now)

    server.psql(
      'TRUNCATE parent, child; INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1)'
    )
    const children = 'SELECT count(*)::int AS n FROM child'
    assert.match(await cachedRead(children), /"n":1/)
    await writer.query('DELETE FROM parent WHERE id = 1')
    await agrees(children, 'SELECT count(*) FROM child', '0')
  })

  it('a write to a partition drops cached reads of its parent', async () => {
    const all = 'SELECT count(*)::int AS n FROM events'
    assert.match(await cachedRead(all), /"n":0/)
    await writer.query("INSERT INTO events_low VALUES (5, 'x')")
    await agrees(all, 'SELECT count(*) FROM events', '1')
  })

  it('a volatile function created after the pooler started is not trusted (the held-out stale read)', async () => {
    server.psql("TRUNCATE items; INSERT INTO items VALUES (1, 'before')")
    // Created behind the pooler's back: its catalog snapshot does not know it.
    server.psql(
      "CREATE FUNCTION rename_it() RETURNS int LANGUAGE plpgsql AS $$ BEGIN UPDATE items SET name = 'after'; RETURN 1; END $$"
    )
    const read = 'SELECT name FROM items WHERE id = 1'
    assert.match(await cachedRead(read), /before/)
    await writer.query('SELECT rename_it()')
    await agrees(read, 'SELECT name FROM items', 'after')
  })

  it('DDL through the pooler refreshes the catalog: a new IMMUTABLE function becomes cacheable', async () => {
    await writer.query(
      'CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$'
    )
    const text = 'SELECT twice(21) AS v'
    // The refresh runs after the CREATE committed; wait for it (bounded).
    const deadline = Date.now() + 10_000
    for (;;) {
      const stores = pool.metrics().cache.stores
      await client.query(text)
      if (pool.metrics().cache.stores > stores) break
      if (Date.now() > deadline) assert.fail('the new immutable function never became cacheable')
      await sleep(50)
    }
    await cachedRead(text)
  })
})
