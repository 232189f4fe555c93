// `wharf pool --upstream mysql://...` as its own process, and a hyperdrive binding whose
// localConnectionString is mysql:// (the host starts the MySQL pooler for it).
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import mysql from 'mysql2/promise'
import { validateConfig } from '../../../host/src/config.js'
import { startHyperdrive } from '../../../host/src/hyperdrive.js'
import { startMariaDb, type MariaDbServer } from './helpers.js'

const ROOT = join(import.meta.dirname, '..', '..', '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

describe('wharf pool and hyperdrive bindings with a mysql:// origin', () => {
  let server: MariaDbServer
  before(async () => {
    if (!existsSync(join(ROOT, 'packages', 'pool', 'dist', 'index.js'))) {
      throw new Error('packages/pool/dist is missing: run `npm run build` first')
    }
    server = await startMariaDb()
  })
  after(async () => {
    await server.stop()
  })

  it('wharf pool --upstream mysql://... serves mysql2 and caches', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'pool',
        '--upstream',
        `${server.connectionString}?ssl-mode=DISABLED`,
        '--listen',
        '127.0.0.1:0',
        '--user',
        'app',
        '--password',
        'secret-pw',
        '--stats-interval',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
      const deadline = Date.now() + 20_000
      for (;;) {
        const m = re.exec(out)
        if (m) return m
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${re} in:\n${out}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    try {
      const ready = await waitFor(/Ready on mysql:\/\/app:\*\*\*@127\.0\.0\.1:(\d+)\/app/)
      assert.doesNotMatch(out, /secret-pw/)
      const conn = await mysql.createConnection({
        host: '127.0.0.1',
        port: Number(ready[1]),
        user: 'app',
        password: 'secret-pw',
        database: 'app',
      })
      const before = server.status('Com_select')
      for (let i = 0; i < 3; i++) {
        const [rows] = await conn.query('SELECT 40 + 2 AS answer')
        assert.deepEqual(rows, [{ answer: 42 }])
      }
      assert.equal(server.status('Com_select') - before, 1)
      await conn.end()
      child.kill('SIGTERM')
      await waitFor(/cache 1 entries, hits 2/)
      assert.equal(await exited(child), 0)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('a hyperdrive binding accepts a mysql:// localConnectionString and starts the pooler', async () => {
    const config = validateConfig(
      {
        name: 'mysql-hyperdrive',
        main: 'packages/pool/src/index.ts',
        compatibility_flags: ['nodejs_compat'],
        hyperdrive: [
          { binding: 'HYPERDRIVE', id: 'x', localConnectionString: server.connectionString },
        ],
      },
      join(ROOT, 'wrangler.json')
    )
    const bindings = config.hyperdrive
    assert.equal(bindings.length, 1)
    const started = await startHyperdrive(bindings)
    try {
      const info = started[0]?.info
      assert.ok(info, started[0]?.error)
      assert.match(info.connectionString, /^mysql:\/\//)
      // What the template does with the binding: host/user/password/database/port.
      const conn = await mysql.createConnection({
        host: info.host,
        user: info.user,
        password: info.password,
        database: info.database,
        port: info.port,
        disableEval: true,
      })
      const [rows] = await conn.query('SHOW TABLES')
      assert.ok(Array.isArray(rows))
      await conn.end()
    } finally {
      for (const s of started) await s.close()
    }
  })
})
