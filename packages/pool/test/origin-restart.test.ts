// A real origin restart (pg_ctl restart -m fast, same port): the pooler's warm connections all
// die at once; connected clients go on with new origin connections on their next query.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pgClient, pooler, sleep, startPostgres, type PostgresServer } from './helpers.js'

function pgCtl(dataDir: string, ...args: string[]): void {
  const base = '/usr/lib/postgresql'
  const version = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a))[0]
  if (version === undefined) throw new Error('pg_ctl not found under /usr/lib/postgresql')
  const cmd = join(base, version, 'bin', 'pg_ctl')
  const argv = ['-D', dataDir, ...args]
  // stdio ignored: the restarted server would otherwise hold our pipes open.
  const options = { timeout: 60_000, stdio: 'ignore' } as const
  if (process.getuid?.() === 0)
    execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...argv], options)
  else execFileSync(cmd, argv, options)
}

describe('wharf pool: the origin restarts', () => {
  let server: PostgresServer
  before(async () => {
    server = await startPostgres()
  })
  after(async () => {
    await server.stop()
  })

  it('clients keep working after a fast restart of PostgreSQL', async () => {
    const pool = await pooler(server, { cache: false, maxConnections: 3 })
    try {
      const a = await pgClient(pool)
      const b = await pgClient(pool)
      assert.deepEqual((await a.query('SELECT 1 AS n')).rows, [{ n: 1 }])
      assert.deepEqual((await b.query('SELECT 2 AS n')).rows, [{ n: 2 }])
      const before = pool.metrics().originCreated
      const logFile = join(server.dataDir, '..', 'log')
      const pidBefore = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]

      pgCtl(server.dataDir, 'restart', '-m', 'fast', '-w', '-t', '30', '-l', logFile)
      await sleep(200)

      // Both clients are still connected to the pooler, which dials the new server for them.
      assert.deepEqual((await a.query('SELECT 3 AS n')).rows, [{ n: 3 }])
      assert.deepEqual((await b.query('SELECT 4 AS n')).rows, [{ n: 4 }])
      const pidAfter = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
      assert.notDeepEqual(pidAfter, pidBefore, 'a new backend serves the client')
      assert.ok(pool.metrics().originCreated > before, 'new origin connections were made')
      // A new client too.
      const c = await pgClient(pool)
      assert.deepEqual((await c.query('SELECT 5 AS n')).rows, [{ n: 5 }])
      await Promise.all([a.end(), b.end(), c.end()])
    } finally {
      await pool.close()
    }
  })
})
