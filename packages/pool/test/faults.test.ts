// Faults with real processes (issue 21): the origin backend terminated or stopped under a leased
// connection, the postmaster killed mid-query and mid-transaction, and clients that vanish during
// COPY, a pipelined batch, or a cancel. Expected: every client gets an answer or a clean error,
// no client gets another's result, no origin connection goes back dirty, and the pool recovers.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { pgCtl } from '../../../test-support/logical-postgres.js'
import type { RunningPool } from '../src/index.js'
import * as m from '../src/pg/protocol.js'
import {
  pgClient,
  pooler,
  rawClient,
  sleep,
  startPostgres,
  startupPacket,
  type PostgresServer,
} from './helpers.js'

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out (${ms} ms) waiting for ${what}`)
    await sleep(25)
  }
}

/** Settles within `ms` or fails the test: no wait is unbounded. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

describe('wharf pool: faults', () => {
  let server: PostgresServer
  let pool: RunningPool

  before(async () => {
    server = await startPostgres()
    server.psql('CREATE TABLE f (id int primary key, v text)')
    pool = await pooler(server, {
      auth: 'trust',
      cache: false,
      maxConnections: 2,
      acquireTimeoutMs: 5000,
    })
  })
  after(async () => {
    await pool.close()
    await server.stop()
  })

  /** No origin connection is left inside a transaction or in COPY by the pooler. */
  async function originIsClean(): Promise<void> {
    await until(
      () =>
        server
          .psql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wharf pool' AND (state LIKE 'idle in transaction%' OR state = 'active' AND query NOT LIKE 'SELECT count(*) FROM pg_stat_activity%')"
          )
          .trim() === '0',
      'the origin connections to be idle and outside transactions'
    )
  }

  /** A fresh client through the pooler gets its own answers. */
  async function serves(): Promise<void> {
    const c = await within(pgClient(pool), 10_000, 'connecting')
    try {
      for (let i = 0; i < 3; i++) {
        const r = await within(
          c.query<{ n: number }>('SELECT $1::int AS n', [i]),
          10_000,
          'a query'
        )
        assert.deepEqual(r.rows, [{ n: i }])
      }
    } finally {
      await c.end()
    }
  }

  it('pg_terminate_backend on a leased connection: a clean error, then the pool recovers', async () => {
    const victim = await pgClient(pool)
    await victim.query('BEGIN')
    const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
    assert.ok(pid)
    server.psql(`SELECT pg_terminate_backend(${pid})`)
    await assert.rejects(within(victim.query('SELECT 1'), 10_000, 'the query on a killed backend'))
    await victim.end().catch(() => undefined)
    await serves()
    await originIsClean()
  })

  it('a client that disconnects during COPY FROM STDIN: the connection is not reused mid-COPY', async () => {
    const raw = await rawClient(pool.port)
    raw.socket.write(startupPacket(pool.user, pool.database))
    await until(
      () => raw.received().includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])),
      'ReadyForQuery'
    )
    raw.socket.write(m.query('COPY f FROM STDIN'))
    await until(() => raw.received().includes(0x47), 'CopyInResponse')
    raw.socket.write(Buffer.concat([Buffer.from([0x64, 0, 0, 0, 10]), Buffer.from('1\tpart\n')]))
    raw.socket.destroy()
    await serves()
    await serves()
    await originIsClean()
    assert.equal(
      server.psql('SELECT count(*) FROM f').trim(),
      '0',
      'the half-sent COPY was rolled back'
    )
  })

  it('a client that disconnects in the middle of a pipelined batch: nobody gets its results', async () => {
    const raw = await rawClient(pool.port)
    raw.socket.write(startupPacket(pool.user, pool.database))
    await until(
      () => raw.received().includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])),
      'ReadyForQuery'
    )
    const batch: Buffer[] = []
    for (let i = 0; i < 20; i++) {
      batch.push(
        m.parse('', `SELECT 'leak-${i}' AS v, pg_sleep(0.02)`, []),
        Buffer.from([0x42, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
        Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]),
        m.SYNC
      )
    }
    raw.socket.write(Buffer.concat(batch))
    await sleep(50)
    raw.socket.destroy()
    // Two clients at once on the two origin connections: neither sees 'leak-'.
    const clients = await Promise.all([pgClient(pool), pgClient(pool)])
    try {
      const rows = await within(
        Promise.all(clients.map((c, i) => c.query<{ v: string }>(`SELECT 'mine-${i}' AS v`))),
        10_000,
        'queries after the batch'
      )
      assert.deepEqual(
        rows.map((r) => r.rows[0]?.v),
        ['mine-0', 'mine-1']
      )
    } finally {
      for (const c of clients) await c.end()
    }
    await originIsClean()
  })

  it('a client that cancels and disconnects at once: the next client is not cancelled or confused', async () => {
    const c = new pg.Client({ connectionString: pool.connectionString })
    c.on('error', () => undefined)
    await c.connect()
    const running = c.query('SELECT pg_sleep(5)').catch((e: unknown) => e)
    await sleep(100)
    const processID = (c as unknown as { processID: number }).processID
    const secretKey = (c as unknown as { secretKey: number }).secretKey
    const cancel = await rawClient(pool.port)
    cancel.socket.write(m.cancelRequest(processID, secretKey))
    ;(c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy()
    await within(running, 10_000, 'the cancelled query')
    await serves()
    await originIsClean()
  })

  it('the origin backend hangs (SIGSTOP) past the client timeout: others are served, it recovers', async () => {
    const stuck = new pg.Client({ connectionString: pool.connectionString, query_timeout: 500 })
    stuck.on('error', () => undefined)
    await stuck.connect()
    await stuck.query('BEGIN')
    const pid = (await stuck.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
    assert.ok(pid)
    process.kill(pid, 'SIGSTOP')
    try {
      await assert.rejects(within(stuck.query('SELECT 1'), 5000, 'the stuck query'), /timeout/i)
      // The client gives up and goes; the pooler must not hand that connection to anyone.
      ;(
        stuck as unknown as { connection: { stream: { destroy(): void } } }
      ).connection.stream.destroy()
      await serves()
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    await serves()
    await originIsClean()
  })

  it('the postmaster is killed (-9) mid-query and mid-transaction; the pool recovers by itself', async () => {
    const inQuery = await pgClient(pool)
    const inTx = await pgClient(pool)
    await inTx.query('BEGIN')
    await inTx.query("INSERT INTO f VALUES (100, 'uncommitted')")
    const sleeping = inQuery.query('SELECT pg_sleep(10)').then(
      () => 'answered',
      () => 'error'
    )
    await sleep(200)
    const postmaster = Number(
      readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]
    )
    assert.ok(postmaster > 0)
    process.kill(postmaster, 'SIGKILL')
    assert.equal(
      await within(sleeping, 15_000, 'the query running when the postmaster died'),
      'error'
    )
    await assert.rejects(within(inTx.query('COMMIT'), 15_000, 'COMMIT after the postmaster died'))
    await inQuery.end().catch(() => undefined)
    await inTx.end().catch(() => undefined)
    let lastError: unknown
    // The options the server was started with (port, sockets), as `pg_ctl restart` would reuse.
    const opts = readFileSync(join(server.dataDir, 'postmaster.opts'), 'utf8')
    const startOptions = [...opts.matchAll(/"([^"]*)"/g)]
      .map((x) => x[1] ?? '')
      .filter((a, i, all) => a !== '-D' && all[i - 1] !== '-D')
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(' ')
    // Orphaned backends exit on postmaster death; then the cluster starts again (bounded).
    await until(
      () => {
        try {
          pgCtl(server.dataDir, 'start', '-w', '-t', '20', '-o', startOptions)
          return true
        } catch {
          return false
        }
      },
      'PostgreSQL to start again',
      60_000
    )
    await until(
      async () => {
        try {
          await serves()
          return true
        } catch (error) {
          lastError = error
          return false
        }
      },
      'the pooler to serve again',
      20_000
    ).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; last: ${String(lastError)}; ${JSON.stringify(pool.metrics())}`
      )
    })
    assert.equal(
      server.psql('SELECT count(*) FROM f WHERE id = 100').trim(),
      '0',
      'the transaction died with the server'
    )
    await originIsClean()
  })
})
