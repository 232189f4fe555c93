// worker-mailer (an SMTP client for Workers) run unmodified in a plain Node process against a
// real SMTP server (smtp-server): examples/worker-mailer/app.mjs with
// `node --import @wharf/sockets/register`. Node loads worker-mailer's CommonJS build, so this also
// covers `require('cloudflare:sockets')`. The server offers AUTH only after STARTTLS.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { testPki, type TestPki, type TestCert } from '../../../../test-support/certs.js'
import { startSmtp, type SmtpServer } from '../../../../test-support/smtp.js'
import { describeRun, ensureBuilt, extraNodes, requireCommands, runApp } from './run-app.js'

const APP = 'examples/worker-mailer/app.mjs'

let pki: TestPki
const servers: SmtpServer[] = []

before(() => {
  requireCommands('openssl')
  ensureBuilt()
  pki = testPki()
})
after(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

async function smtpWith(cert: TestCert): Promise<SmtpServer> {
  const server = await startSmtp({ key: cert.key, cert: cert.cert })
  servers.push(server)
  return server
}

function envFor(smtp: SmtpServer, host: string, extra: Record<string, string> = {}) {
  return {
    SMTP_HOST: host,
    SMTP_PORT: String(smtp.port),
    SMTP_USER: smtp.username,
    SMTP_PASS: smtp.password,
    MAIL_FROM: 'sender@example.com',
    MAIL_TO: 'rcpt@example.com',
    // worker-mailer keeps a timer of this length per reply; the process exits when it fires.
    SMTP_TIMEOUT_MS: '3000',
    ...extra,
  }
}

test('STARTTLS + AUTH: the server receives the message over TLS from the authenticated user', async () => {
  const smtp = await smtpWith(pki.localhost)
  const text = `Hello over STARTTLS ${randomUUID()}`
  const r = await runApp(APP, [text], {
    env: envFor(smtp, 'localhost', { NODE_EXTRA_CA_CERTS: pki.caPath }),
  })
  assert.deepEqual(r.result, { sent: true, to: 'rcpt@example.com', text }, describeRun(r))
  const mail = await smtp.waitForMessage(0, 5000)
  assert.equal(mail.secure, true, 'the message was sent after STARTTLS')
  assert.equal(mail.user, smtp.username)
  assert.equal(mail.from, 'sender@example.com')
  assert.deepEqual(mail.to, ['rcpt@example.com'])
  assert.match(mail.raw, /^Subject: Hello from Wharf\r$/m)
  assert.ok(mail.raw.includes(text), mail.raw)
  assert.equal(smtp.messages.length, 1)
  assert.equal(r.code, 0, describeRun(r))
})

test('STARTTLS to an IP address: the certificate is checked against the IP', async () => {
  const smtp = await smtpWith(pki.localhost)
  const text = `Hello by IP ${randomUUID()}`
  const r = await runApp(APP, [text], {
    env: envFor(smtp, '127.0.0.1', { NODE_EXTRA_CA_CERTS: pki.caPath }),
  })
  assert.equal(r.result?.sent, true, describeRun(r))
  const mail = await smtp.waitForMessage(0, 5000)
  assert.equal(mail.secure, true)
  assert.ok(mail.raw.includes(text))
})

test('Node 22 and 24 (module.registerHooks): the same STARTTLS + AUTH run', async () => {
  for (const node of await extraNodes()) {
    const smtp = await smtpWith(pki.localhost)
    const text = `Hello from ${node}`
    const r = await runApp(APP, [text], {
      node,
      env: envFor(smtp, 'localhost', { NODE_EXTRA_CA_CERTS: pki.caPath }),
    })
    assert.equal(r.result?.sent, true, describeRun(r))
    const mail = await smtp.waitForMessage(0, 5000)
    assert.equal(mail.secure, true)
    assert.ok(mail.raw.includes(text))
  }
})

// Each refused case: the app fails, the server never gets AUTH or a message, and NODE_DEBUG shows
// the certificate error behind workerd's generic startTls failure.
const refused: { name: string; cert: () => TestCert; trustCa: boolean; cause: RegExp }[] = [
  {
    name: 'a self-signed certificate, though the test CA is trusted',
    cert: () => pki.untrusted,
    trustCa: true,
    cause: /self.signed/i,
  },
  {
    name: 'a certificate for another host name',
    cert: () => pki.wrongHost,
    trustCa: true,
    cause: /does not match|altnames/i,
  },
  {
    name: 'the test CA when the process does not trust it',
    cert: () => pki.localhost,
    trustCa: false,
    cause: /self.signed|issuer|certificate/i,
  },
]

for (const c of refused) {
  test(`STARTTLS refuses ${c.name}`, async () => {
    const smtp = await smtpWith(c.cert())
    const env = envFor(smtp, 'localhost', { NODE_DEBUG: 'wharf-sockets' })
    const r = await runApp(APP, ['must not arrive'], {
      env: c.trustCa ? { ...env, NODE_EXTRA_CA_CERTS: pki.caPath } : env,
    })
    assert.notEqual(r.code, 0, describeRun(r))
    assert.equal(r.result, undefined, describeRun(r))
    assert.match(r.stderr, /internal error; reference = [0-9a-z]{24}/, describeRun(r))
    assert.match(r.stderr, /WHARF-SOCKETS \d+: startTls on [^\n]* failed: Error\b[^\n]*/)
    const cause = /startTls on [^\n]* failed: (Error\b[^\n]*)/.exec(r.stderr)?.[1] ?? ''
    assert.match(cause, c.cause)
    assert.equal(smtp.messages.length, 0)
    assert.equal(smtp.authFailures, 0)
  })
}
