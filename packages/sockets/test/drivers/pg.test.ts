// node-postgres (`pg`) through pg-cloudflare, unmodified, in a plain Node process against a real
// PostgreSQL with SCRAM auth and TLS: examples/pg/app.mjs with
// `node --import @wharf/sockets/navigator --conditions=workerd`. The CA is trusted through
// NODE_EXTRA_CA_CERTS or pg's own `ssl.ca` (it reaches startTls({ ca })); nothing turns verification off.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, X509Certificate } from 'node:crypto'
import { servedCertificate } from './pg-tls-probe.js'
import { testPki, type TestPki } from '../../../../test-support/certs.js'
import { startPostgres, type PostgresServer } from './postgres-server.js'
import { describeRun, ensureBuilt, extraNodes, requireCommands, runApp } from './run-app.js'

const APP = 'examples/pg/app.mjs'
const ENTRY = ['@wharf/sockets/navigator']

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

test('plain: SCRAM login and rows through CloudflareSocket, process exits cleanly', async () => {
  const r = await runApp(APP, ['3'], {
    imports: ENTRY,
    workerd: true,
    env: { DATABASE_URL: url() },
  })
  assert.deepEqual(
    r.result,
    { socket: 'CloudflareSocket', ssl: false, tlsVersion: null, rows: expectedRows(3) },
    describeRun(r)
  )
  assert.equal(r.code, 0, describeRun(r))
  assert.equal(r.stderr, '', describeRun(r))
})

test('sslmode=verify-full: TLS verified against the test CA (pg_stat_ssl says ssl), 500 rows', async () => {
  const r = await runApp(APP, ['500'], {
    imports: ENTRY,
    workerd: true,
    env: { DATABASE_URL: url('verify-full'), NODE_EXTRA_CA_CERTS: pki.caPath },
  })
  assert.equal(r.result?.socket, 'CloudflareSocket', describeRun(r))
  assert.equal(r.result.ssl, true, describeRun(r))
  assert.match(String(r.result.tlsVersion), /^TLSv1\.[23]$/)
  assert.deepEqual(r.result.rows, expectedRows(500))
  assert.equal(r.code, 0, describeRun(r))
  assert.equal(r.stderr, '', describeRun(r))
})

test("sslrootcert: pg's own ssl.ca reaches startTls({ ca }) (no NODE_EXTRA_CA_CERTS)", async () => {
  const r = await runApp(APP, ['2'], {
    imports: ENTRY,
    workerd: true,
    env: { DATABASE_URL: `${url('verify-full')}&sslrootcert=${encodeURIComponent(pki.caPath)}` },
  })
  assert.equal(r.result?.ssl, true, describeRun(r))
  assert.deepEqual(r.result.rows, expectedRows(2))
  assert.equal(r.code, 0, describeRun(r))
})

for (const sslmode of ['verify-full', 'no-verify']) {
  test(`sslmode=${sslmode}: a certificate the process does not trust is refused`, async () => {
    const r = await runApp(APP, ['1'], {
      imports: ENTRY,
      workerd: true,
      env: { DATABASE_URL: url(sslmode), NODE_DEBUG: 'wharf-sockets' },
    })
    assert.notEqual(r.code, 0, describeRun(r))
    assert.equal(r.result, undefined, describeRun(r))
    // workerd's generic startTls failure for the driver; the cause for the operator.
    assert.match(r.stderr, /internal error; reference = [0-9a-z]{24}/, describeRun(r))
    assert.match(
      r.stderr,
      /WHARF-SOCKETS \d+: startTls on localhost:\d+ failed: Error\b[^\n]*(certificate|issuer)/i
    )
  })
}

test('without the navigator opt-in pg stays on node:net (why the opt-in exists)', async () => {
  const r = await runApp(APP, ['1'], { workerd: true, env: { DATABASE_URL: url() } })
  assert.equal(r.result?.socket, 'Socket', describeRun(r))
})

test('Node 22 and 24 (module.registerHooks): the same TLS run', async () => {
  for (const node of await extraNodes()) {
    const r = await runApp(APP, ['2'], {
      node,
      imports: ENTRY,
      workerd: true,
      env: { DATABASE_URL: url('verify-full'), NODE_EXTRA_CA_CERTS: pki.caPath },
      // The first start of a freshly installed Node on a busy machine can take a while.
      timeoutMs: 90_000,
    })
    assert.deepEqual(r.result?.rows, expectedRows(2), describeRun(r))
    assert.equal(r.result.ssl, true)
    assert.equal(r.code, 0, describeRun(r))
  }
})

// Last: it changes the server's certificate.
test('a self-signed certificate is refused even though the test CA is trusted', async () => {
  pg.useCertificate(pki.untrusted.certPath, pki.untrusted.keyPath)
  const wanted = new X509Certificate(pki.untrusted.cert).fingerprint256
  const deadline = Date.now() + 10_000
  while ((await servedCertificate(pg.port)) !== wanted) {
    assert.ok(Date.now() < deadline, 'the server did not switch certificates within 10 s')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const r = await runApp(APP, ['1'], {
    imports: ENTRY,
    workerd: true,
    env: {
      DATABASE_URL: url('verify-full'),
      NODE_EXTRA_CA_CERTS: pki.caPath,
      NODE_DEBUG: 'wharf-sockets',
    },
  })
  assert.notEqual(r.code, 0, describeRun(r))
  assert.equal(r.result, undefined, describeRun(r))
  assert.match(
    r.stderr,
    /startTls on localhost:\d+ failed: Error\b[^\n]*self.signed/i,
    describeRun(r)
  )
})
