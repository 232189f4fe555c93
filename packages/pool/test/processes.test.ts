// `wharf pool --processes N`: several pooler processes on one socket. Clients land on either; a
// CancelRequest reaches the process owning the session whichever process accepted it; a write
// through one process drops the cached reads of every other.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { startPostgres, type PostgresServer } from './helpers.js'
import { onePerProcess, startPoolGroup, type PoolGroup } from './process-group.js'

const CANCEL_REQUEST_CODE = 80877102

interface Keyed {
  readonly processID: number
  readonly secretKey: number
}
/** The pooler process a client's session lives in (bits 24-27 of its backend key). */
const ownerOf = (client: pg.Client): number => (client as unknown as Keyed).processID >>> 24

async function until(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('wharf pool --processes', () => {
  let server: PostgresServer
  let group: PoolGroup
  let port = 0
  const clients: pg.Client[] = []

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      host: '127.0.0.1',
      port,
      user: server.user,
      database: server.database,
      connectionTimeoutMillis: 5000,
    })
    await c.connect()
    clients.push(c)
    return c
  }
  const bothProcesses = (): Promise<[pg.Client, pg.Client]> => onePerProcess(connect, ownerOf)

  before(async () => {
    server = await startPostgres()
    server.psql('CREATE TABLE kv (k int PRIMARY KEY, v text)')
    server.psql("INSERT INTO kv VALUES (1, 'old')")
    group = await startPoolGroup(`${server.connectionString}?sslmode=disable`)
    port = group.port
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
    await group.stop()
    await server.stop()
  })

  it('serves clients from both processes', async () => {
    const [a, b] = await bothProcesses()
    assert.deepEqual((await a.query('SELECT 1 AS x')).rows, [{ x: 1 }])
    assert.deepEqual((await b.query('SELECT 2 AS x')).rows, [{ x: 2 }])
  })

  it('routes a CancelRequest to the process that owns the session', async () => {
    // Eight sleeping sessions over both processes, and one cancel each on a new connection: a
    // cancel lands on either process, so most reach a process that must pass them on.
    const [a, b] = await bothProcesses()
    const sleepers: pg.Client[] = [a, b]
    while (sleepers.length < 8) sleepers.push(await connect())
    assert.ok(new Set(sleepers.map(ownerOf)).size === 2, 'sessions in both processes')
    const running = sleepers.map((c) =>
      c.query('SELECT pg_sleep(30)').then(
        () => 'finished',
        (error: { code?: string }) => error.code
      )
    )
    // Let every query reach PostgreSQL before cancelling it.
    await new Promise((r) => setTimeout(r, 500))
    for (const c of sleepers) {
      const { processID, secretKey } = c as unknown as Keyed
      const request = Buffer.alloc(16)
      request.writeInt32BE(16, 0)
      request.writeInt32BE(CANCEL_REQUEST_CODE, 4)
      request.writeInt32BE(processID, 8)
      request.writeInt32BE(secretKey, 12)
      await new Promise<void>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => s.end(request))
        s.on('close', () => resolve())
        s.on('error', reject)
        s.setTimeout(5000, () => s.destroy(new Error('cancel connection timed out')))
      })
    }
    const outcome = await Promise.race([
      Promise.all(running),
      new Promise((r) => setTimeout(() => r('still sleeping after 10 s'), 10_000)),
    ])
    // 57014: query_canceled.
    assert.deepEqual(outcome, new Array(8).fill('57014'))
  })

  it('a write through one process drops the cached read in the other', async () => {
    const [a, b] = await bothProcesses()
    const read = async (): Promise<unknown> =>
      (await a.query('SELECT v FROM kv WHERE k = 1')).rows[0]
    assert.deepEqual(await read(), { v: 'old' })
    // Cached in a's process now: the origin changing behind it does not show...
    server.psql("UPDATE kv SET v = 'behind' WHERE k = 1")
    assert.deepEqual(await read(), { v: 'old' })
    // ...but a write through the other process does.
    await b.query("UPDATE kv SET v = 'new' WHERE k = 1")
    await until(async () => ((await read()) as { v: string }).v === 'new', "a's process to drop it")
  })
})
