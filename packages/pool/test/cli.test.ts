// `wharf pool` as an operator runs it: a separate process with a Ready line, /metrics, psql-style
// clients through it, and a summary on SIGTERM.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { startPostgres, type PostgresServer } from './helpers.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')

/** The exit code, also when the process already exited before anyone listened. */
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

describe('wharf pool (the command)', () => {
  let server: PostgresServer
  before(async () => {
    if (!existsSync(join(ROOT, 'packages', 'pool', 'dist', 'index.js'))) {
      throw new Error('packages/pool/dist is missing: run `npm run build` first')
    }
    server = await startPostgres()
  })
  after(async () => {
    await server.stop()
  })

  it('serves clients, exposes /metrics, and prints a summary when stopped', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'pool',
        '--upstream',
        `${server.connectionString}?sslmode=disable`,
        '--listen',
        '127.0.0.1:0',
        '--metrics',
        '127.0.0.1:0',
        '--stats-interval',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
      const deadline = Date.now() + 15_000
      for (;;) {
        const m = re.exec(out)
        if (m) return m
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${re} in:\n${out}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    try {
      const ready = await waitFor(
        /Ready on postgres:\/\/([^@]+)@127\.0\.0\.1:(\d+)\/(\S+)\?sslmode=disable/
      )
      assert.doesNotMatch(ready[0], new RegExp(server.password), 'the password is not printed')
      const metricsUrl = (await waitFor(/metrics at (http:\S+)/))[1] ?? ''
      const client = new pg.Client({
        host: '127.0.0.1',
        port: Number(ready[2]),
        user: server.user,
        database: server.database,
      })
      await client.connect()
      for (let i = 0; i < 3; i++)
        assert.deepEqual((await client.query('SELECT 41 + 1 AS answer')).rows, [{ answer: 42 }])
      await client.end()
      const metrics = await (await fetch(metricsUrl)).text()
      assert.match(metrics, /^wharf_pool_cache_hits_total\{pool="wharf-pool"\} 2$/m)
      assert.match(metrics, /^wharf_pool_origin_connections\{pool="wharf-pool"\} 1$/m)
      child.kill('SIGTERM')
      await waitFor(/\[wharf:pool\] clients \d+ \| origin \d+ .*cache 1 entries, hits 2/)
      const code = await exited(child)
      assert.equal(code, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })

  /** Runs `wharf pool ARGS` and returns its exit code and stderr; fails if it runs 10 s. */
  async function runToExit(
    args: string[]
  ): Promise<{ code: number | null; err: string; ms: number }> {
    const started = Date.now()
    const run = spawn(process.execPath, [BIN, 'pool', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    run.stderr.on('data', (c: Buffer) => (err += c.toString()))
    const timer = setTimeout(() => run.kill('SIGKILL'), 10_000)
    const code = await exited(run)
    clearTimeout(timer)
    assert.notEqual(run.signalCode, 'SIGKILL', `wharf pool ${args.join(' ')} hung: ${err}`)
    return { code, err, ms: Date.now() - started }
  }

  it('a busy --listen or --metrics address exits 1 at once instead of hanging', async () => {
    const busy = net.createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const port = (busy.address() as net.AddressInfo).port
    try {
      const upstream = `${server.connectionString}?sslmode=disable`
      const listen = await runToExit(['--upstream', upstream, '--listen', `127.0.0.1:${port}`])
      assert.equal(listen.code, 1)
      assert.match(listen.err, /ERR_POOL_CONFIG: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
      const metrics = await runToExit([
        '--upstream',
        upstream,
        '--listen',
        '127.0.0.1:0',
        '--metrics',
        `127.0.0.1:${port}`,
      ])
      assert.equal(metrics.code, 1)
      assert.match(
        metrics.err,
        /ERR_POOL_CONFIG: cannot serve metrics on 127\.0\.0\.1:\d+: .*EADDRINUSE/
      )
      const bad = await runToExit([
        '--upstream',
        upstream,
        '--user',
        'u',
        '--password',
        'p',
        '--listen',
        '256.1.1.1:5432',
      ])
      assert.equal(bad.code, 1)
      assert.match(bad.err, /ERR_POOL_CONFIG: cannot listen on 256\.1\.1\.1:5432/)
    } finally {
      busy.close()
    }
  })

  it('explains bad arguments and exits 1', async () => {
    const run = spawn(process.execPath, [BIN, 'pool', '--upstream', 'mssql://x@127.0.0.1/db'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    run.stderr.on('data', (c: Buffer) => (err += c.toString()))
    const code = await exited(run)
    assert.equal(code, 1)
    assert.match(err, /ERR_POOL_CONFIG: the upstream must use postgres:\/\//)
  })
})
