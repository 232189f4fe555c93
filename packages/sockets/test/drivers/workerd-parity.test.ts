// workerd is the oracle: the same driver code (fixtures/workerd/*.mjs) runs as a Worker in the
// pinned workerd and in a plain Node process with the register entry, against the same real
// servers, and must give the same result: rows, TLS in use, the error when a certificate is not
// trusted, and the rejections left unhandled after close (pg and postgres.js leave one in workerd
// too, which is why the register entry only logs that one).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { testPki, type TestPki } from '../../../../test-support/certs.js'
import { startRedis, redisSupportsTls, type RedisServer } from '../../../../test-support/redis.js'
import { startPostgres, type PostgresServer } from './postgres-server.js'
import { describeRun, ensureBuilt, requireCommands, root, runApp } from './run-app.js'
import { freePort } from '../../../../test-support/servers.js'

const FIXTURES = join(import.meta.dirname, 'fixtures', 'workerd')
const COMPATIBILITY_DATE = '2026-08-01'

let pki: TestPki
let pg: PostgresServer
let redis: RedisServer
let workerd: { port: number; child: ChildProcess; log: () => string } | undefined
let dir = ''
let untrusted = 0

/** Two Workers on one workerd: `trusting` reaches the internet through a network that trusts the
 * test CA, `untrusting` through one that does not. */
function config(port: number, untrustedPort: number): string {
  const worker = (outbound: string): string =>
    `( modules = [ ( name = "worker.js", esModule = embed "worker.js" ) ],
       compatibilityDate = "${COMPATIBILITY_DATE}",
       compatibilityFlags = ["nodejs_compat"],
       globalOutbound = "${outbound}" )`
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ( name = "trusting", worker = ${worker('internet-ca')} ),
    ( name = "untrusting", worker = ${worker('internet-plain')} ),
    ( name = "internet-ca", network = ( allow = ["local"], tlsOptions = ( trustedCertificates = [ embed "ca.pem" ] ) ) ),
    ( name = "internet-plain", network = ( allow = ["local"], tlsOptions = ( trustBrowserCas = true ) ) ),
  ],
  sockets = [
    ( name = "a", address = "127.0.0.1:${port}", http = (), service = "trusting" ),
    ( name = "b", address = "127.0.0.1:${untrustedPort}", http = (), service = "untrusting" ),
  ],
);
`
}

before(async () => {
  requireCommands('openssl', 'runuser', 'redis-server', 'redis-cli')
  ensureBuilt()
  pki = testPki()
  pg = await startPostgres({ tls: true })
  const tls = redisSupportsTls()
  redis = await startRedis(
    tls
      ? {
          tls: {
            certPath: pki.localhost.certPath,
            keyPath: pki.localhost.keyPath,
            caPath: pki.caPath,
          },
        }
      : {}
  )
  dir = mkdtempSync(join(tmpdir(), 'wharf-parity-'))
  // Bundled the way Workers tooling does it: the `workerd` condition, node: built-ins and
  // cloudflare:sockets left to the runtime.
  await build({
    entryPoints: [join(FIXTURES, 'worker.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'node',
    conditions: ['workerd', 'worker'],
    external: ['cloudflare:sockets', 'pg-native'],
    banner: {
      js: "import { createRequire as __wharfRequire } from 'node:module'; const require = __wharfRequire('/');",
    },
    outfile: join(dir, 'worker.js'),
    logLevel: 'silent',
  })
  writeFileSync(join(dir, 'ca.pem'), pki.ca)
  const port = await freePort()
  const untrustedPort = await freePort()
  writeFileSync(join(dir, 'config.capnp'), config(port, untrustedPort))
  const { ensureWorkerd } = (await import(join(root, 'scripts', 'ensure-workerd.mjs'))) as {
    ensureWorkerd: () => string
  }
  const child = spawn(ensureWorkerd(), ['serve', join(dir, 'config.capnp')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  const append = (chunk: Buffer): void => {
    log = (log + chunk.toString()).slice(-20_000)
  }
  child.stdout.on('data', append)
  child.stderr.on('data', append)
  workerd = { port, child, log: () => log }
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited during start-up:\n${log}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) })
      await res.body?.cancel()
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`workerd did not answer within 20 s:\n${log}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  untrusted = untrustedPort
})

after(async () => {
  if (workerd && workerd.child.exitCode === null) {
    workerd.child.kill('SIGTERM')
    const timer = setTimeout(() => workerd?.child.kill('SIGKILL'), 3000)
    await once(workerd.child, 'exit')
    clearTimeout(timer)
  }
  await Promise.all([pg?.stop(), redis?.stop()])
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

async function inWorkerd(path: string, trusted: boolean): Promise<unknown> {
  const port = trusted ? (workerd?.port ?? 0) : untrusted
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(20_000),
  })
  const text = await res.text()
  assert.equal(res.status, 200, `${text}\n${workerd?.log() ?? ''}`)
  return JSON.parse(text)
}

async function inNode(path: string, trusted: boolean): Promise<unknown> {
  const r = await runApp(join(FIXTURES, 'run-in-node.mjs'), [`http://worker${path}`], {
    imports: ['@wharf/sockets/navigator'],
    workerd: true,
    env: trusted ? { NODE_EXTRA_CA_CERTS: pki.caPath } : {},
  })
  assert.equal(r.code, 0, describeRun(r))
  assert.ok(r.result, describeRun(r))
  return r.result
}

function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString()
}

const rows = [
  { n: 1, hash: 'c4ca4238a0b923820dcc509a6f75849b' },
  { n: 2, hash: 'c81e728d9d4c2f636f067f89cc14862c' },
  { n: 3, hash: 'eccbc87e4b5ce2fe28308fd9f2a7baf3' },
]
const closeRejection = ['TypeError: This socket has been closed.']

const cases: {
  name: string
  path: () => string
  trusted: boolean
  expected: Record<string, unknown>
  /** A known difference, reported as a todo until the core matches workerd. */
  todo?: string
}[] = [
  {
    name: 'pg, plain',
    path: () => `/pg?${query({ db: pg.connectionString })}`,
    trusted: true,
    expected: { socket: 'CloudflareSocket', ssl: false, rows, unhandled: closeRejection },
  },
  {
    name: 'pg, sslmode=verify-full',
    path: () => `/pg?${query({ db: `${pg.connectionString}?sslmode=verify-full` })}`,
    trusted: true,
    expected: { socket: 'CloudflareSocket', ssl: true, rows, unhandled: closeRejection },
  },
  {
    name: 'pg, certificate not trusted',
    path: () => `/pg?${query({ db: `${pg.connectionString}?sslmode=verify-full` })}`,
    trusted: false,
    expected: { error: 'Error: internal error; reference = …', unhandled: [] },
  },
  {
    name: 'postgres.js, plain',
    path: () => `/postgres-js?${query({ db: pg.connectionString })}`,
    trusted: true,
    expected: { ssl: false, rows, unhandled: closeRejection },
  },
  {
    name: 'postgres.js, sslmode=require',
    path: () => `/postgres-js?${query({ db: `${pg.connectionString}?sslmode=require` })}`,
    trusted: true,
    expected: { ssl: true, rows, unhandled: closeRejection },
  },
  {
    name: 'postgres.js, certificate not trusted',
    path: () => `/postgres-js?${query({ db: `${pg.connectionString}?sslmode=require` })}`,
    trusted: false,
    // postgres.js turns both the failed upgrade's `closed` and its read into 'error' events.
    expected: {
      error: 'Error: internal error; reference = …',
      unhandled: ['Error: internal error; reference = …', 'Error: internal error; reference = …'],
    },
    todo: 'Wharf leaves one of the two unhandled: the failed upgrade settles closed/read in another order than workerd',
  },
  {
    name: 'redis-on-workers, plain',
    path: () =>
      `/redis?${query({ url: `redis://:${encodeURIComponent(redis.password)}@localhost:${redis.port}`, key: `parity:${randomUUID()}` })}`,
    trusted: true,
    expected: { value: 'parity ✓', hits: 1, unhandled: [] },
  },
  {
    name: 'redis-on-workers, rediss://',
    path: () =>
      `/redis?${query({ url: `rediss://:${encodeURIComponent(redis.password)}@localhost:${redis.tlsPort ?? 0}`, key: `parity:${randomUUID()}` })}`,
    trusted: true,
    expected: { value: 'parity ✓', hits: 1, unhandled: [] },
  },
  {
    name: 'redis-on-workers, rediss:// with a certificate not trusted',
    path: () =>
      `/redis?${query({ url: `rediss://:${encodeURIComponent(redis.password)}@localhost:${redis.tlsPort ?? 0}`, key: `parity:${randomUUID()}` })}`,
    trusted: false,
    // The write fails with the "jsg.Error: " prefix, the closed promise without it.
    expected: {
      error: 'Error: jsg.Error: proxy request failed, cannot connect to the specified address',
      unhandled: ['Error: proxy request failed, cannot connect to the specified address'],
    },
  },
]

for (const c of cases) {
  const options = c.todo === undefined ? {} : { todo: c.todo }
  test(`${c.name}: Node with @wharf/sockets gives what workerd gives`, options, async (t) => {
    if (c.name.includes('rediss') && redis.tlsPort === undefined) {
      t.skip(`${redis.version} has no TLS support`)
      return
    }
    const oracle = await inWorkerd(c.path(), c.trusted)
    assert.deepEqual(oracle, c.expected, 'workerd')
    const ours = await inNode(c.path(), c.trusted)
    assert.deepEqual(ours, oracle, 'Node + @wharf/sockets')
  })
}
