// worker-mailer (an SMTP client written for Cloudflare Workers) on Node, unmodified:
//
//   SMTP_HOST=smtp.example.com SMTP_PORT=587 SMTP_USER=me SMTP_PASS=secret MAIL_TO=you@example.com \
//     node --import @wharf/sockets/register app.mjs
//
// The session upgrades with STARTTLS and verifies the server's certificate before it sends AUTH
// (trust a private CA with NODE_EXTRA_CA_CERTS=ca.pem). Prints one JSON line when the server has
// accepted the message.
import { WorkerMailer } from 'worker-mailer'

const env = process.env
const host = env.SMTP_HOST ?? 'localhost'
const port = Number(env.SMTP_PORT ?? 587)
const from = env.MAIL_FROM ?? 'wharf@example.com'
const to = env.MAIL_TO ?? 'you@example.com'
const text = process.argv[2] ?? `Sent by worker-mailer from Node ${process.version}.`

const mailer = await WorkerMailer.connect({
  host,
  port,
  secure: false,
  startTls: true,
  credentials: { username: env.SMTP_USER ?? '', password: env.SMTP_PASS ?? '' },
  authType: ['plain', 'login'],
  logLevel: 4, // LogLevel.NONE: keep stdout for the result line
  // worker-mailer leaves a timer of this length running per server reply (harmless in a Worker);
  // on Node the process exits once the last one fires.
  socketTimeoutMs: Number(env.SMTP_TIMEOUT_MS ?? 10_000),
})
try {
  await mailer.send({
    from: { name: 'Wharf', email: from },
    to: { email: to },
    subject: 'Hello from Wharf',
    text,
  })
  console.log(JSON.stringify({ sent: true, to, text }))
} finally {
  await mailer.close()
}
