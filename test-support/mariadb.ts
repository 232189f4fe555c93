// A real MariaDB for tests (Debian's mariadb-server in a per-run data directory on a free loopback
// port). Users: `native` (mysql_native_password) and `root` (no password, Unix socket only, for
// the test's own checks). Optional TLS with the test PKI's localhost certificate. MariaDB has no
// caching_sha2_password server plugin, so that method is tested against the pooler (client side).
// As root the server runs as the `mysql` user, which owns the data directory.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testPki } from './certs.js'
import { freePort } from './servers.js'

export interface MariaDbServer {
  host: '127.0.0.1'
  port: number
  /** A mysql_native_password user with every privilege. */
  user: string
  password: string
  database: string
  /** `mysql://user:password@127.0.0.1:port/database` (add `?ssl-mode=...` as needed). */
  connectionString: string
  /** PEM of the CA that signed the server certificate (with `tls`). */
  ca?: string
  dataDir: string
  /** Runs SQL as root over the Unix socket with the `mariadb` client; tab-separated rows. */
  sql(statements: string): string
  /** A global status counter (e.g. `Com_select`), read over the Unix socket. */
  status(name: string): number
  /** Stops the server (as a crash would: no clean shutdown of clients) and starts it again. */
  restart(): Promise<void>
  stop(): Promise<void>
}

function ensureInstalled(): void {
  if (existsSync('/usr/sbin/mariadbd')) return
  if (process.getuid?.() === 0) {
    execFileSync('bash', [join(import.meta.dirname, '..', 'scripts', 'install-system-deps.sh')], {
      stdio: 'inherit',
      timeout: 600_000,
    })
  }
  if (!existsSync('/usr/sbin/mariadbd')) {
    throw new Error('mariadbd not found: run `sudo bash scripts/install-system-deps.sh`')
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function startMariaDb(options: { tls?: boolean } = {}): Promise<MariaDbServer> {
  ensureInstalled()
  const asRoot = process.getuid?.() === 0
  const owner = asRoot
    ? {
        uid: Number(execFileSync('id', ['-u', 'mysql'], { encoding: 'utf8' })),
        gid: Number(execFileSync('id', ['-g', 'mysql'], { encoding: 'utf8' })),
      }
    : undefined
  const own = (path: string): void => {
    if (owner) chownSync(path, owner.uid, owner.gid)
  }
  const dir = mkdtempSync(join(tmpdir(), 'wharf-mariadb-'))
  own(dir)
  chmodSync(dir, 0o755)
  const dataDir = join(dir, 'data')
  const socketPath = join(dir, 'mysqld.sock')
  const logPath = join(dir, 'error.log')
  // A temporary directory of its own: servers started at once must not share /tmp's names.
  const tmp = join(dir, 'tmp')
  mkdirSync(tmp)
  own(tmp)
  const userArgs = asRoot ? ['--user=mysql'] : []
  const install = spawnSync(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      `--tmpdir=${tmp}`,
      ...userArgs,
    ],
    { encoding: 'utf8', timeout: 120_000 }
  )
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`mariadb-install-db failed:\n${install.stderr}${install.stdout}`)
  }
  let ca: string | undefined
  const tlsArgs: string[] = []
  if (options.tls === true) {
    const pki = testPki()
    for (const [from, to] of [
      [pki.localhost.certPath, 'server.crt'],
      [pki.localhost.keyPath, 'server.key'],
      [pki.caPath, 'ca.crt'],
    ] as const) {
      copyFileSync(from, join(dir, to))
      own(join(dir, to))
      chmodSync(join(dir, to), 0o600)
    }
    ca = pki.ca
    tlsArgs.push(
      `--ssl-cert=${join(dir, 'server.crt')}`,
      `--ssl-key=${join(dir, 'server.key')}`,
      `--ssl-ca=${join(dir, 'ca.crt')}`
    )
  }

  const sql = (statements: string): string => {
    const result = spawnSync(
      'mariadb',
      ['--no-defaults', `--socket=${socketPath}`, '-uroot', '-N', '-B', '-e', statements],
      { encoding: 'utf8', timeout: 30_000 }
    )
    if (result.status !== 0) {
      throw new Error(`mariadb client failed (${result.status ?? result.signal}): ${result.stderr}`)
    }
    return result.stdout.trim()
  }

  let child: ChildProcess | undefined
  let port = 0
  const launch = async (wantedPort: number | undefined): Promise<void> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      port = wantedPort ?? (await freePort())
      const proc = spawn(
        '/usr/sbin/mariadbd',
        [
          '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socketPath}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--pid-file=${join(dir, 'mysqld.pid')}`,
          `--log-error=${logPath}`,
          `--tmpdir=${tmp}`,
          '--skip-name-resolve',
          '--skip-log-bin',
          '--innodb-buffer-pool-size=32M',
          '--innodb-log-file-size=16M',
          '--innodb-flush-log-at-trx-commit=0',
          '--max-connections=200',
          '--max-allowed-packet=64M',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_general_ci',
          ...tlsArgs,
          ...userArgs,
        ],
        { stdio: 'ignore' }
      )
      const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve))
      let up = false
      const deadline = Date.now() + 60_000
      while (Date.now() < deadline) {
        const done = await Promise.race([exited, sleep(100).then(() => 'wait' as const)])
        if (done !== 'wait') break
        const ping = spawnSync(
          'mariadb-admin',
          ['--no-defaults', `--socket=${socketPath}`, '-uroot', '--connect-timeout=2', 'ping'],
          { encoding: 'utf8', timeout: 5000 }
        )
        if (ping.status === 0) {
          up = true
          break
        }
      }
      if (up) {
        child = proc
        return
      }
      proc.kill('SIGKILL')
      await exited
      const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''
      if (wantedPort === undefined && attempt < 4 && /already in use|bind/i.test(log)) continue
      throw new Error(`mariadbd did not start on port ${port}:\n${log.slice(-4000)}`)
    }
    throw new Error('mariadbd found no free port in 5 tries')
  }
  const kill = async (): Promise<void> => {
    const proc = child
    child = undefined
    if (!proc || proc.exitCode !== null) return
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill('SIGKILL')
    await Promise.race([exited, sleep(10_000)])
  }

  try {
    await launch(undefined)
    const user = 'native'
    const password = `pw-${Math.random().toString(36).slice(2)}`
    const database = 'app'
    sql(
      [
        `CREATE DATABASE ${database}`,
        'CREATE DATABASE other',
        `CREATE USER '${user}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${password}')`,
        `GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%'`,
        'FLUSH PRIVILEGES',
      ].join('; ')
    )
    const server: MariaDbServer = {
      host: '127.0.0.1',
      port,
      user,
      password,
      database,
      connectionString: `mysql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      dataDir,
      sql,
      status: (name) => {
        const out = sql(`SHOW GLOBAL STATUS LIKE '${name.replace(/[^A-Za-z0-9_]/g, '')}'`)
        return Number(out.split('\t')[1])
      },
      restart: async () => {
        await kill()
        await launch(server.port)
      },
      stop: async () => {
        try {
          await kill()
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      },
    }
    if (ca !== undefined) server.ca = ca
    return server
  } catch (e) {
    await kill()
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
}
