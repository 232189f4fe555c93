// KILL through the MySQL pooler: the id a client names is the pooler's connection id (what its
// greeting said, `threadId` in mysql2), never an origin thread. The pooler kills that client's
// statement on the origin connection it runs on, and an id no client has is an error, not a
// shot at whatever origin connection happens to have that number.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import knex from 'knex'
import type mysql from 'mysql2/promise'
import type { RunningPool } from '../../src/index.js'
import { client, direct, errno, mysqlPooler, startMariaDb, type MariaDbServer } from './helpers.js'

describe('MySQL pooler: KILL', () => {
  let server: MariaDbServer
  let pool: RunningPool
  const opened: mysql.Connection[] = []
  const connect = async (): Promise<mysql.Connection> => {
    const c = await client(pool)
    opened.push(c)
    return c
  }

  before(async () => {
    server = await startMariaDb()
    pool = await mysqlPooler(server, { cache: false })
  })
  after(async () => {
    await Promise.all(opened.map((c) => c.end().catch(() => undefined)))
    await pool.close()
    await server.stop()
  })

  it('KILL QUERY id ends the statement of the client with that id, which stays usable', async () => {
    const sleeper = await connect()
    const killer = await connect()
    const started = Date.now()
    // Its outcome is awaited from the start: the origin may fail it before KILL's own reply
    // arrives, and a rejection nobody holds yet would fail the test as unhandled.
    const interrupted = errno(sleeper.query('SELECT SLEEP(20) AS slept'))
    await new Promise((r) => setTimeout(r, 300)) // the statement is on the origin now
    const [ok] = await killer.query(`KILL QUERY ${sleeper.threadId}`)
    assert.equal((ok as { affectedRows?: number }).affectedRows, 0)
    // 1317: ER_QUERY_INTERRUPTED, from the origin.
    assert.equal(await interrupted, 1317)
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
    const [again] = await sleeper.query('SELECT 2 AS x')
    assert.deepEqual(again, [{ x: 2 }])
  })

  it('KILL CONNECTION id ends that client (an idle one is sent MariaDB error 1927 first)', async () => {
    const victim = await connect()
    const killer = await connect()
    await killer.query(`KILL CONNECTION ${victim.threadId}`)
    assert.ok((await errno(victim.query('SELECT 1'))) !== 'no error')
    const [rows] = await killer.query('SELECT 3 AS x')
    assert.deepEqual(rows, [{ x: 3 }])
  })

  it('an id no client has is 1094, and the origin connection with that number lives on', async () => {
    const bystander = await direct(server)
    try {
      const killer = await connect()
      // A direct origin connection's thread id: the number a pass-through KILL would have hit.
      const thread = bystander.threadId
      const ids = new Set(opened.map((c) => c.threadId))
      if (!ids.has(thread)) assert.equal(await errno(killer.query(`KILL ${thread}`)), 1094)
      assert.equal(await errno(killer.query('KILL 4000000000')), 1094)
      const [rows] = await bystander.query('SELECT 4 AS x')
      assert.deepEqual(rows, [{ x: 4 }])
    } finally {
      await bystander.end()
    }
  })

  it('its own statement and connection, the other KILL forms, and KILL in a batch', async () => {
    const self = await connect()
    await self.query(`KILL QUERY ${self.threadId}`)
    assert.equal(await errno(self.query('KILL USER root')), 1235)
    assert.equal(await errno(self.query('KILL QUERY ID 7')), 1235)
    assert.equal(await errno(self.query(`SELECT 1; KILL ${self.threadId}`)), 1235)
    const [rows] = await self.query('SELECT 5 AS x')
    assert.deepEqual(rows, [{ x: 5 }])
    assert.equal(await errno(self.query(`KILL ${self.threadId}`)), 1927)
  })

  it("knex's timeout(ms, { cancel: true }) kills the statement on the origin", async () => {
    const db = knex({
      client: 'mysql2',
      connection: {
        host: '127.0.0.1',
        port: pool.port,
        user: pool.user,
        password: pool.password,
        database: pool.database,
      },
      pool: { min: 0, max: 4 },
    })
    const sleeping = (): number =>
      Number(
        server
          .sql(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30)%'"
          )
          .trim()
      )
    try {
      await assert.rejects(db.raw('SELECT SLEEP(30)').timeout(500, { cancel: true }), {
        name: 'KnexTimeoutError',
      })
      // The statement is gone from the origin, not left running behind the pooler.
      const deadline = Date.now() + 5000
      while (sleeping() > 0) {
        if (Date.now() > deadline) throw new Error('SELECT SLEEP(30) still runs on the origin')
        await new Promise((r) => setTimeout(r, 100))
      }
      const rows = (await db.raw('SELECT 6 AS x')) as [unknown[], unknown]
      assert.deepEqual(rows[0], [{ x: 6 }])
    } finally {
      await db.destroy()
    }
  })
})
