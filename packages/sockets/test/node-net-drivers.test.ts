// Real drivers over @wharf/sockets/node/net and /node/tls: ioredis against a real redis-server,
// pg's Node path (net.Socket, then tls.connect({ socket }) for SSL) against a real PostgreSQL.
// The driver code is bundled with esbuild with `net`/`tls` aliased to our modules, as `wharf dev`
// bundles a nodejs_compat Worker. A counting socket runtime proves every connection went through
// connect(), and a denying egress policy proves a denied address is never reached.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build, type Plugin } from 'esbuild'
import type { ConnectRequest, SocketRuntime } from '@wharf/sockets/runtime'
import type { EgressPolicy } from '@wharf/sockets/egress'
import { testPki } from '../../../test-support/certs.js'
import {
  startRedis,
  redisServerMissing,
  redisSupportsTls,
  type RedisServer,
} from '../../../test-support/redis.js'
import { startPostgres, type PostgresServer } from '../../../test-support/postgres.js'
import { tcpServer, type TestServer } from '../../../test-support/servers.js'
import { ensureBuilt } from './drivers/run-app.js'

interface Drivers {
  /** The bundle's own copy of the runtime seam (the one its net/tls use). */
  setSocketRuntime(runtime: SocketRuntime | undefined): void
  redisRoundTrip(o: {
    host: string
    port: number
    password: string
    key: string
    value: string
    tls?: { ca: string; servername?: string }
  }): Promise<{ got: string; counts: number[] }>
  pgQuery(o: {
    connectionString: string
    ssl: unknown
    sql: string
  }): Promise<{ rows: Record<string, unknown>[]; ssl: boolean | null }>
}

const requireHere = createRequire(import.meta.url)

const socketsDir = join(requireHere.resolve('@wharf/sockets/package.json'), '..')

/** `net`, `node:net`, `tls`, `node:tls` → the built @wharf/sockets/node/*, bundled together with
 * the `@wharf/sockets/runtime` the fixture re-exports: one copy of the runtime seam. Imports from
 * inside @wharf/sockets itself keep Node's real modules. */
const nodeCompatAlias: Plugin = {
  name: 'wharf-node-net',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(net|tls)$/ }, (args) =>
      args.importer.startsWith(socketsDir)
        ? { path: args.path.replace(/^(node:)?/, 'node:'), external: true }
        : { path: requireHere.resolve(`@wharf/sockets/node/${args.path.replace(/^node:/, '')}`) }
    )
  },
}

let dir = ''
let drivers: Drivers
let redis: RedisServer | undefined
let pgServer: PostgresServer | undefined
const admitted: ConnectRequest[] = []

/** A runtime that records every connect() and, when `deny` is set, denies that port. */
function installRuntime(deny?: number): void {
  const policy: EgressPolicy = {
    decide: (hostname, port) =>
      Promise.resolve(
        port === deny
          ? { allowed: false, rule: 'test', reason: 'denied by the test' }
          : { allowed: true, address: hostname, family: 4, rule: 'test' }
      ),
  }
  drivers.setSocketRuntime({
    admit(request) {
      admitted.push(request)
      return { policy }
    },
  })
}

before(async () => {
  ensureBuilt()
  dir = mkdtempSync(join(tmpdir(), 'wharf-node-net-drivers-'))
  await build({
    entryPoints: [join(import.meta.dirname, 'fixtures', 'node-net', 'drivers.mjs')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    external: ['pg-native', 'pg-cloudflare'],
    plugins: [nodeCompatAlias],
    outfile: join(dir, 'drivers.cjs'),
    logLevel: 'silent',
  })
  drivers = requireHere(join(dir, 'drivers.cjs')) as Drivers
  if (redisServerMissing() === undefined) {
    const pki = testPki()
    redis = await startRedis(
      redisSupportsTls()
        ? {
            tls: {
              certPath: pki.localhost.certPath,
              keyPath: pki.localhost.keyPath,
              caPath: pki.caPath,
            },
          }
        : {}
    )
  }
  pgServer = await startPostgres({ tls: true })
})

after(async () => {
  drivers.setSocketRuntime(undefined)
  await redis?.stop()
  await pgServer?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('the bundle took net and tls from @wharf/sockets/node', async () => {
  const { readFileSync } = await import('node:fs')
  const text = readFileSync(join(dir, 'drivers.cjs'), 'utf8')
  // esbuild names each bundled module by its path: our two modules are in, and the drivers'
  // `require("net")`/`require("tls")` are gone (only @wharf/sockets' connect() keeps `node:net`).
  assert.ok(text.includes('dist/node/net.js'), 'node/net.js is bundled')
  assert.ok(text.includes('dist/node/tls.js'), 'node/tls.js is bundled')
  assert.ok(!/require\("(net|tls)"\)/.test(text), 'no driver requires Node net/tls directly')
})

test('ioredis: SET, GET and a pipeline, every connection through connect()', async (t) => {
  if (!redis) {
    t.skip(redisServerMissing())
    return
  }
  admitted.length = 0
  installRuntime()
  try {
    const result = await drivers.redisRoundTrip({
      host: redis.host,
      port: redis.port,
      password: redis.password,
      key: 'wharf:node-net',
      value: 'over node:net',
    })
    assert.equal(result.got, 'over node:net')
    assert.deepEqual(result.counts, [1, 2])
    assert.equal(redis.cli('GET', 'wharf:node-net'), 'over node:net')
    assert.deepEqual(
      admitted.map((r) => [r.address, r.secureTransport]),
      [[`127.0.0.1:${redis.port}`, 'starttls']]
    )
  } finally {
    drivers.setSocketRuntime(undefined)
  }
})

test('ioredis over TLS: tls.connect({ host, port, ca }), secureTransport on', async (t) => {
  if (!redis?.tlsPort) {
    t.skip('redis-server without TLS')
    return
  }
  admitted.length = 0
  installRuntime()
  try {
    const result = await drivers.redisRoundTrip({
      host: 'localhost',
      port: redis.tlsPort,
      password: redis.password,
      key: 'wharf:node-tls',
      value: 'over node:tls',
      tls: { ca: testPki().ca },
    })
    assert.equal(result.got, 'over node:tls')
    assert.equal(redis.cli('GET', 'wharf:node-tls'), 'over node:tls')
    assert.deepEqual(
      admitted.map((r) => [r.address, r.secureTransport]),
      [[`localhost:${redis.tlsPort}`, 'on']]
    )
  } finally {
    drivers.setSocketRuntime(undefined)
  }
})

test('pg over TLS: net.Socket, SSLRequest, tls.connect({ socket }) upgrade, a query', async () => {
  assert.ok(pgServer)
  admitted.length = 0
  installRuntime()
  try {
    const result = await drivers.pgQuery({
      connectionString: `postgres://${pgServer.user}:${pgServer.password}@localhost:${pgServer.port}/${pgServer.database}`,
      ssl: { ca: pgServer.ca },
      sql: "select 41 + 1 as answer, 'node:tls' as via",
    })
    assert.deepEqual(result.rows, [{ answer: 42, via: 'node:tls' }])
    assert.equal(result.ssl, true, 'the server saw a TLS connection')
    assert.deepEqual(
      admitted.map((r) => [r.address, r.secureTransport]),
      [[`localhost:${pgServer.port}`, 'starttls']]
    )
  } finally {
    drivers.setSocketRuntime(undefined)
  }
})

test('pg over TLS: a certificate the client does not trust fails the connection', async () => {
  assert.ok(pgServer)
  await assert.rejects(
    drivers.pgQuery({
      connectionString: `postgres://${pgServer.user}:${pgServer.password}@localhost:${pgServer.port}/${pgServer.database}`,
      ssl: { ca: testPki().untrusted.cert },
      sql: 'select 1',
    }),
    (e: Error) => {
      // workerd's startTls() failure: an opaque reference (the cause goes to diagnostics).
      assert.match(e.message, /^internal error; reference = [0-9a-f]{24}$/)
      return true
    }
  )
})

test('pg with ssl: { rejectUnauthorized: false } fails as on workerd', async () => {
  assert.ok(pgServer)
  await assert.rejects(
    drivers.pgQuery({
      connectionString: `postgres://${pgServer.user}:${pgServer.password}@localhost:${pgServer.port}/${pgServer.database}`,
      ssl: { rejectUnauthorized: false },
      sql: 'select 1',
    }),
    /The options.rejectUnauthorized option is not implemented/
  )
})

test('pg without TLS: plain net.Socket', async () => {
  assert.ok(pgServer)
  admitted.length = 0
  installRuntime()
  try {
    const result = await drivers.pgQuery({
      connectionString: `postgres://${pgServer.user}:${pgServer.password}@127.0.0.1:${pgServer.port}/${pgServer.database}`,
      ssl: false,
      sql: 'select 7 as n',
    })
    assert.deepEqual(result.rows, [{ n: 7 }])
    assert.equal(result.ssl, false)
    assert.equal(admitted.length, 1)
  } finally {
    drivers.setSocketRuntime(undefined)
  }
})

test('egress denial: ioredis to a denied port fails and the server sees no connection', async () => {
  let counting: TestServer | undefined
  try {
    counting = await tcpServer((socket) => socket.end('-ERR never\r\n'))
    admitted.length = 0
    installRuntime(counting.port)
    await assert.rejects(
      drivers.redisRoundTrip({
        host: '127.0.0.1',
        port: counting.port,
        password: 'x',
        key: 'k',
        value: 'v',
      })
    )
    assert.equal(admitted.length, 1, 'the connection was asked of connect()')
    // Give a (wrongly) allowed connection time to arrive before concluding none did.
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(counting.connections, 0, 'the denied server was never reached')
  } finally {
    drivers.setSocketRuntime(undefined)
    await counting?.close()
  }
})

test('egress denial: pg to a denied port reports the denial as a connection error', async () => {
  assert.ok(pgServer)
  admitted.length = 0
  installRuntime(pgServer.port)
  try {
    await assert.rejects(
      drivers.pgQuery({
        connectionString: `postgres://${pgServer.user}:${pgServer.password}@127.0.0.1:${pgServer.port}/${pgServer.database}`,
        ssl: false,
        sql: 'select 1',
      }),
      /proxy request failed, cannot connect to the specified address/
    )
    assert.equal(admitted.length, 1)
  } finally {
    drivers.setSocketRuntime(undefined)
  }
})
