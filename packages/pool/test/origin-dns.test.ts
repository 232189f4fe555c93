// DNS for the origin fails: `wharf pool` names its origin by a host name that a DNS server of the
// test's own answers (test-support/dns.ts: a private mount namespace points the pooler's
// /etc/resolv.conf at it). When the name stops resolving (NXDOMAIN, SERVFAIL, a resolver that
// never answers), every client gets a clean error in bounded time, the pooler stays up, and it
// recovers by itself once the name resolves again.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { dnsUnavailable, startTestDns, type TestDns } from '../../../test-support/dns.js'
import { startPostgres, type PostgresServer } from './helpers.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')
const ORIGIN_NAME = 'origin.db.wharf.test'
/** A failed lookup must reach the client within this (the resolver's 1 s try, the dial's 5 s). */
const ERROR_BOUND_MS = 12_000

describe('wharf pool: DNS for the origin fails', { skip: dnsUnavailable() }, () => {
  let server: PostgresServer
  let dns: TestDns
  let child: ChildProcess | undefined
  let out = ''
  let port = 0

  before(async () => {
    if (!existsSync(join(ROOT, 'packages', 'pool', 'dist', 'index.js')))
      throw new Error('packages/pool/dist is missing: run `npm run build` first')
    server = await startPostgres()
    dns = await startTestDns({ answer: 'address', address: '127.0.0.1' })
    const origin = new URL(server.connectionString)
    origin.hostname = ORIGIN_NAME
    origin.searchParams.set('sslmode', 'disable')
    const argv = dns.wrap([
      process.execPath,
      BIN,
      'pool',
      '--upstream',
      origin.href,
      '--listen',
      '127.0.0.1:0',
      '--no-cache',
      '--stats-interval',
      '0',
    ])
    child = spawn(argv[0] ?? 'unshare', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
    const deadline = Date.now() + 20_000
    for (;;) {
      const ready = /Ready on postgres:\/\/[^@]+@127\.0\.0\.1:(\d+)\//.exec(out)
      if (ready) {
        port = Number(ready[1])
        break
      }
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`wharf pool did not start:\n${out}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  })
  after(async () => {
    child?.kill('SIGKILL')
    await dns?.stop()
    await server?.stop()
  })

  const client = (): pg.Client =>
    new pg.Client({
      host: '127.0.0.1',
      port,
      user: server.user,
      password: server.password,
      database: server.database,
      connectionTimeoutMillis: 20_000,
    })

  /** Ends every origin connection the pooler holds, so the next query must dial (and resolve). */
  function dropOriginConnections(): void {
    server.psql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${server.user}' AND pid <> pg_backend_pid()`
    )
  }

  /** A new client's query: its answer, or the error it got, and how long that took. */
  async function attempt(): Promise<{ value?: string; error?: Error; ms: number }> {
    const started = Date.now()
    const c = client()
    try {
      await c.connect()
      const r = await c.query<{ v: string }>("SELECT 'through' AS v")
      return { value: r.rows[0]?.v, ms: Date.now() - started }
    } catch (error) {
      return { error: error as Error, ms: Date.now() - started }
    } finally {
      await c.end().catch(() => undefined)
    }
  }

  it('resolves the origin through the test DNS and serves', async () => {
    const r = await attempt()
    assert.equal(r.value, 'through', String(r.error))
    assert.ok(dns.queries.includes(ORIGIN_NAME), `queries seen: ${dns.queries.join(', ')}`)
  })

  for (const answer of ['nxdomain', 'servfail', 'drop'] as const) {
    it(`${answer}: a clean error in bounded time, the pooler stays up, then recovers`, async () => {
      dns.mode = { answer }
      dropOriginConnections()
      const failed = await attempt()
      assert.ok(failed.error, `expected an error, got ${String(failed.value)}`)
      // The client is told which origin could not be resolved, and why.
      assert.match(
        failed.error.message,
        new RegExp(
          `origin ${ORIGIN_NAME.replaceAll('.', '\\.')}:\\d+: getaddrinfo (ENOTFOUND|EAI_AGAIN)`
        )
      )
      assert.ok(failed.ms < ERROR_BOUND_MS, `the error took ${failed.ms} ms`)
      assert.doesNotMatch(failed.error.message, /Connection terminated unexpectedly/)
      assert.equal(child?.exitCode, null, `the pooler exited:\n${out}`)
      // A second client at the same time as a third: both answered, neither hangs.
      const both = await Promise.all([attempt(), attempt()])
      for (const b of both) {
        assert.ok(b.error)
        assert.ok(b.ms < ERROR_BOUND_MS, `took ${b.ms} ms`)
      }
      dns.mode = { answer: 'address', address: '127.0.0.1' }
      const deadline = Date.now() + 15_000
      let back = await attempt()
      while (back.value === undefined && Date.now() < deadline) back = await attempt()
      assert.equal(back.value, 'through', `not recovered: ${String(back.error)}\n${out}`)
    })
  }
})
