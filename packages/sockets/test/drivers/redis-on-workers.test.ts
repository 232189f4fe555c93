// redis-on-workers (a Redis client for Workers that imports `cloudflare:sockets`) run unmodified
// in a plain Node process against a real redis-server: examples/redis-on-workers/app.mjs, with
// `node --import @wharf/sockets/register`, plain and TLS (the CA trusted via NODE_EXTRA_CA_CERTS).
//
// The package falls back to @arrowood.dev/socket when `cloudflare:sockets` does not resolve (and
// that package is installed here); the refused-certificate case shows Wharf's sockets are used,
// since the fallback does not verify certificates.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { testPki, type TestPki } from '../../../../test-support/certs.js'
import { startRedis, redisSupportsTls, type RedisServer } from '../../../../test-support/redis.js'
import {
  describeRun,
  ensureBuilt,
  extraNodes,
  requireCommands,
  runApp,
  type AppRun,
} from './run-app.js'

const APP = 'examples/redis-on-workers/app.mjs'

let pki: TestPki
let redis: RedisServer
let tlsSupported = false

before(async () => {
  requireCommands('redis-server', 'redis-cli', 'openssl')
  ensureBuilt()
  pki = testPki()
  tlsSupported = redisSupportsTls()
  redis = await startRedis(
    tlsSupported
      ? {
          tls: {
            certPath: pki.localhost.certPath,
            keyPath: pki.localhost.keyPath,
            caPath: pki.caPath,
          },
        }
      : {}
  )
})
after(() => redis.stop())

function url(scheme: 'redis' | 'rediss', port: number): string {
  return `${scheme}://:${encodeURIComponent(redis.password)}@127.0.0.1:${port}`
}

const runs: AppRun[] = []

async function run(env: Record<string, string>, key: string, value: string): Promise<AppRun> {
  const result = await runApp(APP, [key, value], { env })
  runs.push(result)
  return result
}

test('plain: SET/GET/INCR round-trip through the driver, checked with redis-cli', async () => {
  const key = `wharf:${randomUUID()}`
  const value = `plain ✓ ${randomUUID()}`
  const r = await run({ REDIS_URL: url('redis', redis.port) }, key, value)
  assert.deepEqual(r.result, { key, value, hits: 1, serverPort: redis.port }, describeRun(r))
  assert.equal(redis.cli('GET', key), value)
  assert.equal(redis.cli('GET', `${key}:hits`), '1')
})

test('TLS (rediss://): verified against the test CA, served by the TLS-only port', async (t) => {
  if (!tlsSupported || redis.tlsPort === undefined) {
    t.skip(`${redis.version} has no TLS support`)
    return
  }
  const key = `wharf:${randomUUID()}`
  const value = `tls ✓ ${randomUUID()}`
  const r = await run(
    { REDIS_URL: url('rediss', redis.tlsPort), NODE_EXTRA_CA_CERTS: pki.caPath },
    key,
    value
  )
  // The server saw this connection on its TLS-only port: it was TLS.
  assert.deepEqual(r.result, { key, value, hits: 1, serverPort: redis.tlsPort }, describeRun(r))
  assert.equal(redis.cli('GET', key), value)
})

test('TLS: a certificate from a CA the process does not trust is refused, nothing is written', async (t) => {
  if (!tlsSupported || redis.tlsPort === undefined) {
    t.skip(`${redis.version} has no TLS support`)
    return
  }
  const key = `wharf:${randomUUID()}`
  const r = await run(
    { REDIS_URL: url('rediss', redis.tlsPort), NODE_DEBUG: 'wharf-sockets' },
    key,
    'must not arrive'
  )
  assert.notEqual(r.code, 0, describeRun(r))
  assert.equal(r.result, undefined, describeRun(r))
  // The driver sees workerd's generic connect failure; NODE_DEBUG shows the real cause.
  assert.match(r.stderr, /proxy request failed, cannot connect to the specified address/)
  assert.match(
    r.stderr,
    /WHARF-SOCKETS \d+: connect to [^\n]* failed: Error\b[^\n]*(certificate|issuer)/i
  )
  assert.equal(redis.cli('EXISTS', key), '0')
})

test('Node 22 and 24 (module.registerHooks): the same round-trip', async () => {
  const port = redis.tlsPort ?? redis.port
  const scheme = redis.tlsPort === undefined ? 'redis' : 'rediss'
  for (const node of await extraNodes()) {
    const key = `wharf:${randomUUID()}`
    const value = `node ${node}`
    const r = await runApp(APP, [key, value], {
      node,
      env: { REDIS_URL: url(scheme, port), NODE_EXTRA_CA_CERTS: pki.caPath },
    })
    runs.push(r)
    assert.deepEqual(r.result, { key, value, hits: 1, serverPort: port }, describeRun(r))
  }
})

test('the process exits by itself, without errors, after redis.close()', () => {
  const ok = runs.filter((r) => r.result !== undefined)
  assert.ok(ok.length > 0, 'no successful run to check')
  for (const r of ok) {
    assert.equal(r.code, 0, describeRun(r))
    assert.equal(r.stderr, '', describeRun(r))
  }
})
