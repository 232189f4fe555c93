/**
 * The embedded default: `wharf dev examples/hyperdrive` with no connection string starts PGlite
 * (real, from npm) behind the pooler, and the example's Worker (pg, unmodified) reads its seeded
 * rows; the second request is served from the cache. The example is copied under the repository's
 * .tmp/ so its `pg` import resolves from the root node_modules and its data stays out of the tree.
 */
import assert from 'node:assert/strict'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { startEmbeddedPostgres as startEmbeddedPostgresType } from '../src/embedded-postgres.js'
import { ROOT, get, runWharf, startWharf, type Wharf } from './helpers.js'

// First creation of a PGlite data directory takes ~10 s on an idle machine; allow for load.
const START_MS = 150_000

interface Product {
  id: number
  name: string
  price_cents: number
}

function copyExample(): string {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true })
  const dir = mkdtempSync(join(ROOT, '.tmp', 'embedded-'))
  cpSync(join(ROOT, 'examples/hyperdrive'), dir, {
    recursive: true,
    filter: (source) => !source.includes('.wharf'),
  })
  return dir
}

describe('wharf dev examples/hyperdrive: the embedded PostgreSQL', { timeout: 600_000 }, () => {
  let dir = ''
  before(() => {
    delete process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE
    delete process.env.WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE
    dir = copyExample()
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('starts PGlite, seeds it, serves rows through pg, and answers the repeat from the cache', async () => {
    const wharf = await startWharf(dir, [], START_MS)
    try {
      const out = wharf.output()
      assert.match(
        out,
        /hyperdrive binding HYPERDRIVE: no connection string configured; starting an embedded PostgreSQL \(PGlite\), data in \S*\.wharf\/hyperdrive\/HYPERDRIVE/
      )
      assert.match(
        out,
        /embedded PostgreSQL ready in \d+ ms \(new database, seeded from \S*seed\.sql\)/
      )
      const first = await get(wharf.url)
      assert.equal(first.status, 200, first.body + wharf.output())
      const rows = (JSON.parse(first.body) as { products: Product[] }).products
      assert.deepEqual(
        rows.map((r) => r.name),
        ['anchor', 'bollard', 'capstan']
      )
      assert.doesNotMatch(wharf.output(), /served from the cache/)
      const second = await get(wharf.url)
      assert.equal(second.body, first.body)
      await wharf.waitFor(
        /\[wharf:hyperdrive\] HYPERDRIVE: 1 query result\(s\) served from the cache/
      )
      assert.ok(existsSync(join(dir, '.wharf/hyperdrive/HYPERDRIVE/PG_VERSION')))
      assert.match(readFileSync(join(dir, '.wharf/.gitignore'), 'utf8'), /^\*$/m)
      assert.equal(
        readFileSync(join(dir, '.wharf/hyperdrive/HYPERDRIVE.lock'), 'utf8').trim(),
        String(wharf.pid)
      )

      // A second host on the same data directory is refused while the first holds it.
      const other = await runWharf(['dev', dir, '--port', '0', '--no-watch'], 60_000)
      assert.equal(other.code, 1, other.stdout + other.stderr)
      assert.match(
        other.stderr,
        new RegExp(
          `ERR_WHARF_EMBEDDED_DB: embedded PostgreSQL: .*HYPERDRIVE is in use by process ${wharf.pid}`
        )
      )
    } finally {
      await wharf.stop()
    }
    assert.equal(existsSync(join(dir, '.wharf/hyperdrive/HYPERDRIVE.lock')), false)
  })

  it('keeps its data across restarts (no second seed) and a stale lock does not block it', async () => {
    // A host killed with SIGKILL leaves its lock; a pid that is not running is taken over.
    writeFileSync(join(dir, '.wharf/hyperdrive/HYPERDRIVE.lock'), '999999999\n')
    const wharf: Wharf = await startWharf(dir, ['--no-watch'], START_MS)
    try {
      assert.match(wharf.output(), /embedded PostgreSQL ready in \d+ ms \(existing database\)/)
      const reply = await get(wharf.url)
      assert.equal(reply.status, 200, reply.body + wharf.output())
      assert.equal((JSON.parse(reply.body) as { products: Product[] }).products.length, 3)
    } finally {
      await wharf.stop()
    }
  })

  it('speaks what the pooler needs: catalog snapshot, prepared statements, one origin connection', async () => {
    // The thread module is loaded from dist (as the CLI runs it), so import the built module.
    const { startEmbeddedPostgres } = (await import(
      join(ROOT, 'packages/host/dist/embedded-postgres.js')
    )) as { startEmbeddedPostgres: typeof startEmbeddedPostgresType }
    const { startPool } = await import('@wharf/pool')
    const pg = (await import('pg')).default
    // The data directory the tests above created: an existing database starts in seconds, and
    // the tables come through the pooler (its DDL path refreshes the catalog snapshot).
    const db = await startEmbeddedPostgres(
      { dataDir: join(dir, '.wharf', 'hyperdrive', 'HYPERDRIVE') },
      dir
    )
    const pool = await startPool({
      upstream: db.connectionString,
      listen: '127.0.0.1:0',
      maxConnections: 1,
      auth: { user: 'u', password: 'p', iterations: 16 },
    })
    const client = (): InstanceType<typeof pg.Client> =>
      new pg.Client({
        host: '127.0.0.1',
        port: pool.port,
        user: 'u',
        password: 'p',
        database: 'postgres',
      })
    try {
      const c = client()
      await c.connect()
      await c.query(
        "CREATE TABLE items (id int PRIMARY KEY, name text); CREATE VIEW item_names AS SELECT name FROM items; INSERT INTO items VALUES (1, 'one'), (2, 'two')"
      )
      const names = async (): Promise<string[]> =>
        (await c.query<{ name: string }>('SELECT name FROM item_names ORDER BY name')).rows.map(
          (r) => r.name
        )
      assert.deepEqual(await names(), ['one', 'two'])
      assert.deepEqual(await names(), ['one', 'two'])
      assert.equal(pool.metrics().cache.hits, 1, 'the repeat came from the cache')
      // The write names `items`, the cached read `item_names`: only the catalog snapshot (the
      // view's dependencies, read from PGlite's pg_rewrite/pg_depend) links them.
      await c.query("INSERT INTO items VALUES (3, 'three')")
      assert.deepEqual(await names(), ['one', 'three', 'two'])
      // Named prepared statements (extended protocol) across two clients sharing the connection.
      const d = client()
      await d.connect()
      for (const who of [c, d]) {
        const r = await who.query({
          name: 'by_id',
          text: 'SELECT name FROM items WHERE id = $1',
          values: [2],
        })
        assert.deepEqual(r.rows, [{ name: 'two' }])
      }
      await d.end()
      await c.end()

      // Ten clients at once, each in a transaction: serialized over the one origin connection.
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const e = client()
          await e.connect()
          try {
            await e.query('BEGIN')
            await e.query('INSERT INTO items VALUES ($1, $2)', [100 + i, `n${i}`])
            await e.query('COMMIT')
          } finally {
            await e.end()
          }
        })
      )
      const f = client()
      await f.connect()
      const count = await f.query<{ n: number }>('SELECT count(*)::int AS n FROM items')
      await f.end()
      assert.equal(count.rows[0]?.n, 13)
      assert.equal(pool.metrics().originConnections, 1)
    } finally {
      await pool.close()
      await db.close()
    }
  })
})
