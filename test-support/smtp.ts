// A real SMTP server (the `smtp-server` npm package) on a free loopback port, for driver tests:
// STARTTLS with a certificate from the test PKI, and AUTH (PLAIN/LOGIN) that it only offers and
// accepts once the session is encrypted. It records every accepted message and how it arrived.
import { SMTPServer, type SMTPServerSession } from 'smtp-server'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

export interface ReceivedMail {
  from: string
  to: string[]
  /** The whole message as received after DATA (headers and body, CRLF line ends). */
  raw: string
  /** The session had switched to TLS (STARTTLS) before the message was sent. */
  secure: boolean
  /** The user the session authenticated as. */
  user: string | undefined
}

export interface SmtpServer {
  host: '127.0.0.1'
  port: number
  username: string
  password: string
  messages: ReceivedMail[]
  /** Failed AUTH attempts (wrong credentials), to tell a refused login from a refused TLS. */
  authFailures: number
  /** Resolves with the next (or already received) message number `index`, or rejects in `timeoutMs`. */
  waitForMessage(index?: number, timeoutMs?: number): Promise<ReceivedMail>
  stop(): Promise<void>
}

const MAX_MESSAGE_BYTES = 1 << 20

export async function startSmtp(options: { key: string; cert: string }): Promise<SmtpServer> {
  const username = 'mailer'
  const password = `pw-${Math.random().toString(36).slice(2)}`
  const messages: ReceivedMail[] = []
  const waiters = new Set<() => void>()
  let authFailures = 0

  const server = new SMTPServer({
    secure: false,
    key: options.key,
    cert: options.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    size: MAX_MESSAGE_BYTES,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === username && auth.password === password) {
        callback(null, { user: username })
      } else {
        authFailures++
        callback(new Error('Invalid username or password'))
      }
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = []
      let size = 0
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= MAX_MESSAGE_BYTES) chunks.push(chunk)
      })
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
        })
        for (const wake of waiters) wake()
        callback()
      })
    },
  })
  server.on('error', () => {
    // Client-side failures (a refused certificate, a dropped connection) are reported per
    // connection; they must not crash the test process.
  })
  server.listen(0, '127.0.0.1')
  await once(server.server, 'listening')
  const { port } = server.server.address() as AddressInfo

  return {
    host: '127.0.0.1',
    port,
    username,
    password,
    messages,
    get authFailures() {
      return authFailures
    },
    waitForMessage(index = 0, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const mail = messages[index]
          if (mail === undefined) return false
          clearTimeout(timer)
          waiters.delete(wake)
          resolve(mail)
          return true
        }
        const wake = (): void => {
          check()
        }
        const timer = setTimeout(() => {
          waiters.delete(wake)
          reject(new Error(`no message #${index} within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(wake)
        check()
      })
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
