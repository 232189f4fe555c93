// `wharf pool --processes N` with a MySQL origin: clients land on either process, each told a
// connection id no other client of the group has (the process's index in bits 24-27); prepared
// statements run in both; KILL reaches a client of the other process; a write through one
// process drops the cached read of the other.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import mysql from 'mysql2/promise'
import { startMariaDb, type MariaDbServer } from './helpers.js'
import { onePerProcess, startPoolGroup, type PoolGroup } from '../process-group.js'

/** The pooler process a client's session lives in. */
const ownerOf = (conn: mysql.Connection): number => conn.threadId >>> 24

describe('wharf pool --processes with a MySQL origin', () => {
  let server: MariaDbServer
  let group: PoolGroup
  let port = 0
  const clients: mysql.Connection[] = []

  const connect = async (): Promise<mysql.Connection> => {
    const conn = await mysql.createConnection({
      host: '127.0.0.1',
      port,
      user: server.user,
      database: server.database,
      connectTimeout: 10_000,
    })
    conn.on('error', () => undefined)
    clients.push(conn)
    return conn
  }
  const bothProcesses = (): Promise<[mysql.Connection, mysql.Connection]> =>
    onePerProcess(connect, ownerOf)

  before(async () => {
    server = await startMariaDb()
    server.sql(
      "CREATE TABLE app.kv (k INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO app.kv VALUES (1, 'old')"
    )
    group = await startPoolGroup(`${server.connectionString}?ssl-mode=DISABLED`)
    port = group.port
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
    await group.stop()
    await server.stop()
  })

  it('serves clients from both processes, each with its own connection id', async () => {
    const [a, b] = await bothProcesses()
    const [ra] = await a.query('SELECT 1 AS x')
    const [rb] = await b.query('SELECT 2 AS x')
    assert.deepEqual(ra, [{ x: 1 }])
    assert.deepEqual(rb, [{ x: 2 }])
    const ids = clients.map((c) => c.threadId)
    assert.equal(new Set(ids).size, ids.length, `connection ids repeat: ${ids.join()}`)
  })

  it('runs prepared statements in both processes', async () => {
    const [a, b] = await bothProcesses()
    for (const conn of [a, b, a, b]) {
      const [rows] = await conn.execute('SELECT v FROM kv WHERE k = ?', [1])
      assert.equal((rows as { v: string }[]).length, 1)
    }
  })

  it('KILL QUERY reaches the client in the other process', async () => {
    const [a, b] = await bothProcesses()
    for (const [sleeper, killer] of [
      [a, b],
      [b, a],
    ] as const) {
      const started = Date.now()
      const running = sleeper.query('SELECT SLEEP(20)').then(
        () => 'finished',
        (error: { errno?: number }) => error.errno
      )
      await new Promise((r) => setTimeout(r, 300))
      await killer.query(`KILL QUERY ${sleeper.threadId}`)
      // 1317: ER_QUERY_INTERRUPTED, from the origin.
      assert.equal(await running, 1317)
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
    }
  })

  it('a write through one process drops the cached read in the other', async () => {
    const [a, b] = await bothProcesses()
    const read = async (): Promise<string> => {
      const [rows] = await a.query('SELECT v FROM kv WHERE k = 1')
      return (rows as { v: string }[])[0]?.v ?? ''
    }
    assert.equal(await read(), 'old')
    // Cached in a's process now: the origin changing behind the pooler does not show...
    server.sql("UPDATE app.kv SET v = 'behind' WHERE k = 1")
    assert.equal(await read(), 'old')
    // ...but a write through the other process does, once its message has gone round.
    await b.query("UPDATE kv SET v = 'new' WHERE k = 1")
    const deadline = Date.now() + 5000
    while ((await read()) !== 'new') {
      if (Date.now() > deadline) throw new Error("a's process kept the cached read")
      await new Promise((r) => setTimeout(r, 50))
    }
  })
})
