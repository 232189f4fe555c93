// mysql2 inside a Worker (`wharf dev`, nodejs_compat's node:net) through a hyperdrive binding
// whose local connection string is mysql://, against a real MariaDB.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, startWharf } from '../../../host/test/helpers.js'
import { startMariaDb, type MariaDbServer } from './helpers.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'worker')
const VAR = 'CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE'

describe('mysql2 in a Worker through a mysql:// hyperdrive binding', () => {
  let server: MariaDbServer
  before(async () => {
    server = await startMariaDb()
    server.sql(
      'CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO app.items VALUES (1, "one"), (2, "two")'
    )
  })
  after(async () => {
    delete process.env[VAR]
    await server.stop()
  })

  it('queries, prepared statements, and the cache (one origin SELECT for repeated reads)', async () => {
    process.env[VAR] = `${server.connectionString}?ssl-mode=DISABLED`
    const wharf = await startWharf(FIXTURE, ['--no-watch'], 60_000)
    try {
      const first = await get(wharf.url)
      assert.equal(first.status, 200, first.body + wharf.output())
      const body = JSON.parse(first.body) as { tables: unknown[]; rows: unknown[] }
      assert.deepEqual(body.tables, [{ Tables_in_app: 'items' }])
      assert.deepEqual(body.rows, [
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ])
      const before = server.status('Com_select')
      for (let i = 0; i < 3; i++) {
        const again = await get(wharf.url)
        assert.equal(again.status, 200)
      }
      assert.equal(server.status('Com_select') - before, 0, 'served from the cache')
      const prepared = await get(`${wharf.url}/prepared?id=2`)
      assert.equal(prepared.status, 200, prepared.body)
      assert.deepEqual(JSON.parse(prepared.body), [{ name: 'two' }])
      const legacy = await get(`${wharf.url}/legacy`)
      assert.equal(legacy.status, 200, legacy.body)
      assert.deepEqual(JSON.parse(legacy.body), [{ name: 'one' }])
    } finally {
      await wharf.stop()
    }
  })
})
