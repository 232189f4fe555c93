// A real PostgreSQL (Debian's packaged server) for the driver tests, in a temporary cluster on a
// free loopback port: SCRAM passwords, and TLS with the test PKI's localhost certificate.
// PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
// (Same shape as test-support/postgres.ts's startPostgres, kept here so these tests stand alone.)
import { execFileSync, spawnSync } from 'node:child_process'
import {
  appendFileSync,
  chmodSync,
  readFileSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testPki } from '../../../../test-support/certs.js'
import { root } from './run-app.js'
import { freePort } from '../../../../test-support/servers.js'

export interface PostgresServer {
  host: string
  port: number
  user: string
  password: string
  database: string
  connectionString: string
  /** PEM of the CA that signed the server certificate (with `tls`). */
  ca?: string
  dataDir: string
  /** Runs SQL with psql over the Unix socket (a client independent of the drivers). */
  psql(sql: string): string
  /** Swaps the server certificate and reloads the configuration (takes effect shortly after). */
  useCertificate(certPath: string, keyPath: string): void
  stop(): Promise<void>
}

function installedBinDir(): string | undefined {
  const base = '/usr/lib/postgresql'
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin')
}

/** The newest installed server's bin/; as root, installs the Debian packages when missing. */
function binDir(): string {
  let bin = installedBinDir()
  if (bin === undefined && process.getuid?.() === 0) {
    execFileSync('bash', [join(root, 'scripts', 'install-system-deps.sh')], {
      stdio: 'inherit',
      timeout: 600_000,
    })
    bin = installedBinDir()
  }
  if (bin === undefined) {
    throw new Error(
      'PostgreSQL server not found under /usr/lib/postgresql: run `sudo bash scripts/install-system-deps.sh`'
    )
  }
  return bin
}

export async function startPostgres(
  options: {
    tls?: boolean
    auth?: 'scram-sha-256' | 'md5' | 'trust'
    /** Run the server inside this network namespace (`ip netns exec`), listening on `host`. */
    netns?: string
    /** The address it listens on (default 127.0.0.1). */
    host?: string
  } = {}
): Promise<PostgresServer> {
  const host = options.host ?? '127.0.0.1'
  const bin = binDir()
  const asRoot = process.getuid?.() === 0
  const owner = asRoot
    ? {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
      }
    : undefined
  const run = (cmd: string, args: string[], timeout = 60_000, netns?: string): string => {
    let [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]
    if (netns !== undefined) [file, argv] = ['ip', ['netns', 'exec', netns, file, ...argv]]
    const result = spawnSync(file, argv, { encoding: 'utf8', timeout })
    if (result.status !== 0) {
      throw new Error(
        `${cmd} failed (${result.status ?? result.signal}):\n${result.stderr}${result.stdout}`
      )
    }
    return result.stdout
  }
  const own = (path: string): void => {
    if (owner) chownSync(path, owner.uid, owner.gid)
  }

  const dir = mkdtempSync(join(tmpdir(), 'wharf-pg-'))
  own(dir)
  chmodSync(dir, 0o700)
  const dataDir = join(dir, 'data')
  const user = 'postgres'
  const password = `pw-${Math.random().toString(36).slice(2)}`
  const auth = options.auth ?? 'scram-sha-256'
  const pwfile = join(dir, 'pwfile')
  writeFileSync(pwfile, `${password}\n`)
  own(pwfile)
  try {
    run(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      user,
      '--pwfile',
      pwfile,
      `--auth-host=${auth}`,
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--no-sync',
    ])
    // initdb's pg_hba.conf admits loopback only; a server on another address admits its own.
    if (host !== '127.0.0.1')
      appendFileSync(join(dataDir, 'pg_hba.conf'), `host all all ${host}/32 ${auth}\n`)
    let ca: string | undefined
    if (options.tls === true) {
      const pki = testPki()
      for (const [from, to] of [
        [pki.localhost.certPath, 'server.crt'],
        [pki.localhost.keyPath, 'server.key'],
      ] as const) {
        copyFileSync(from, join(dataDir, to))
        own(join(dataDir, to))
        chmodSync(join(dataDir, to), 0o600)
      }
      ca = pki.ca
    }
    // A port picked by the kernel can be taken again before postgres binds it: retry.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort()
      const settings = [
        `-p ${port}`,
        `-k ${dir}`,
        `-c listen_addresses='${host}'`,
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        `-c password_encryption=${auth === 'md5' ? 'md5' : 'scram-sha-256'}`,
        ...(options.tls === true
          ? ['-c ssl=on', '-c ssl_cert_file=server.crt', '-c ssl_key_file=server.key']
          : []),
      ].join(' ')
      try {
        run(
          join(bin, 'pg_ctl'),
          ['-D', dataDir, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', settings, 'start'],
          60_000,
          options.netns
        )
      } catch (e) {
        const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : ''
        if (attempt < 4 && /already in use|could not bind/i.test(`${String(e)}\n${log}`)) continue
        throw new Error(`${String(e)}\nserver log:\n${log.slice(-4000)}`, { cause: e })
      }
      const server: PostgresServer = {
        host,
        port,
        user,
        password,
        database: 'postgres',
        connectionString: `postgres://${user}:${encodeURIComponent(password)}@${host === '127.0.0.1' ? 'localhost' : host}:${port}/postgres`,
        dataDir,
        psql: (sql) =>
          run(
            join(bin, 'psql'),
            ['-h', dir, '-p', String(port), '-U', user, '-d', 'postgres', '-XAtqc', sql],
            10_000
          ).trim(),
        useCertificate: (certPath, keyPath) => {
          for (const [from, to] of [
            [certPath, 'server.crt'],
            [keyPath, 'server.key'],
          ] as const) {
            copyFileSync(from, join(dataDir, to))
            own(join(dataDir, to))
            chmodSync(join(dataDir, to), 0o600)
          }
          run(join(bin, 'pg_ctl'), ['-D', dataDir, 'reload'])
        },
        stop: () => {
          try {
            run(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'])
          } finally {
            rmSync(dir, { recursive: true, force: true })
          }
          return Promise.resolve()
        },
      }
      if (ca !== undefined) server.ca = ca
      return server
    }
    throw new Error('PostgreSQL found no free port in 5 tries')
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
}
