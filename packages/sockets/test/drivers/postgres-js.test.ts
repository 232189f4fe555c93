// postgres.js (`postgres`) through its Workers build, unmodified, in a plain Node process against
// a real PostgreSQL with SCRAM auth and TLS: examples/postgres-js/app.mjs with
// `node --import @wharf/sockets/register --conditions=workerd`. Its SSL path needs startTls() to
// settle the old socket's `closed` (its secureConnect signal); the CA comes from NODE_EXTRA_CA_CERTS.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { testPki, type TestPki } from '../../../../test-support/certs.js'
import { startPostgres, type PostgresServer } from './postgres-server.js'
import { describeRun, ensureBuilt, extraNodes, requireCommands, runApp } from './run-app.js'

const APP = 'examples/postgres-js/app.mjs'

let pki: TestPki
let pg: PostgresServer

before(async () => {
  requireCommands('openssl', 'runuser')
  ensureBuilt()
  pki = testPki()
  pg = await startPostgres({ tls: true, auth: 'scram-sha-256' })
})
after(() => pg?.stop())

function expectedRows(count: number): { n: number; hash: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    n: i + 1,
    hash: createHash('md5')
      .update(String(i + 1))
      .digest('hex'),
  }))
}

function url(sslmode?: string): string {
  return sslmode === undefined ? pg.connectionString : `${pg.connectionString}?sslmode=${sslmode}`
}

test('plain: SCRAM login and rows through the Workers build, process exits cleanly', async () => {
  const r = await runApp(APP, ['3'], { workerd: true, env: { DATABASE_URL: url() } })
  assert.deepEqual(
    r.result,
    { ssl: false, tlsVersion: null, rows: expectedRows(3) },
    describeRun(r)
  )
  assert.equal(r.code, 0, describeRun(r))
  assert.equal(r.stderr, '', describeRun(r))
})

test('sslmode=require: TLS verified against the test CA (pg_stat_ssl says ssl), 500 rows', async () => {
  const r = await runApp(APP, ['500'], {
    workerd: true,
    env: { DATABASE_URL: url('require'), NODE_EXTRA_CA_CERTS: pki.caPath },
  })
  assert.equal(r.result?.ssl, true, describeRun(r))
  assert.match(String(r.result.tlsVersion), /^TLSv1\.[23]$/)
  assert.deepEqual(r.result.rows, expectedRows(500))
  assert.equal(r.code, 0, describeRun(r))
  assert.equal(r.stderr, '', describeRun(r))
})

test('sslmode=require: a certificate the process does not trust is refused, at once', async () => {
  const started = performance.now()
  const r = await runApp(APP, ['1'], {
    workerd: true,
    env: { DATABASE_URL: url('require'), NODE_DEBUG: 'wharf-sockets' },
  })
  assert.notEqual(r.code, 0, describeRun(r))
  assert.equal(r.result, undefined, describeRun(r))
  assert.match(r.stderr, /internal error; reference = [0-9a-z]{24}/, describeRun(r))
  assert.match(
    r.stderr,
    /WHARF-SOCKETS \d+: startTls on localhost:\d+ failed: Error\b[^\n]*(certificate|issuer)/i
  )
  // A refused handshake is an error now, not postgres.js's CONNECT_TIMEOUT 10 s later.
  assert.doesNotMatch(r.stderr, /CONNECT_TIMEOUT/)
  assert.ok(performance.now() - started < 8000)
})

test('without --conditions=workerd it is the Node build, which would not verify (why the flag)', async () => {
  const r = await runApp(APP, ['1'], { env: { DATABASE_URL: url('require') } })
  assert.equal(r.result?.ssl, true, describeRun(r))
})

test('Node 22 and 24 (module.registerHooks): the same SSL run', async () => {
  for (const node of await extraNodes()) {
    const r = await runApp(APP, ['2'], {
      node,
      workerd: true,
      env: { DATABASE_URL: url('require'), NODE_EXTRA_CA_CERTS: pki.caPath },
    })
    assert.deepEqual(r.result?.rows, expectedRows(2), describeRun(r))
    assert.equal(r.result.ssl, true)
    assert.equal(r.code, 0, describeRun(r))
  }
})
