/**
 * Is the origin of a Hyperdrive binding a PostgreSQL server? One TCP connection and an
 * SSLRequest: a PostgreSQL server answers one byte, `S` or `N` (or an `E` error), and says nothing
 * before it is asked. A MySQL server greets first, Redis and HTTP servers answer with text. The
 * answer comes within a few seconds whatever the server is.
 */
import net from 'node:net'

export type ProbeResult =
  { readonly ok: true } | { readonly ok: false; readonly down: boolean; readonly reason: string }

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
const MAX_NAME = 256

/** Who the startup message names (the connection string's user and database). */
export interface ProbeStartup {
  readonly user: string
  readonly database: string
}

/** A protocol 3.0 StartupMessage (user, database), bounded names. */
function startupMessage(startup: ProbeStartup): Buffer {
  const pairs = [
    'user',
    startup.user.slice(0, MAX_NAME),
    'database',
    startup.database.slice(0, MAX_NAME),
  ]
  const body = Buffer.concat([
    Buffer.from([0, 3, 0, 0]),
    ...pairs.map((p) => Buffer.from(`${p}\0`, 'utf8')),
    Buffer.from([0]),
  ])
  const length = Buffer.alloc(4)
  length.writeUInt32BE(body.length + 4)
  return Buffer.concat([length, body])
}

function describe(bytes: Buffer): string {
  const text = bytes.subarray(0, 64).toString('latin1')
  if (bytes.length > 4 && bytes[4] === 0x0a) return 'it greets like a MySQL server'
  if (/^HTTP\//.test(text)) return 'it answers like an HTTP server'
  if (/^[-+]/.test(text)) return 'it answers like a Redis server'
  return `it answered ${JSON.stringify(text.replace(/[^\x20-\x7e]/g, '.').slice(0, 32))}`
}

export function probeOrigin(
  host: string,
  port: number,
  timeoutMs = 3000,
  /** Reaches the origin another way than TCP (a tunnel flow); host:port then only name it. */
  dial?: (signal: AbortSignal) => Promise<net.Socket>,
  /**
   * After an `N` (no TLS), also send a StartupMessage: a PostgreSQL server answers it with `R`
   * (authentication), `E` or `v`. A server that merely echoes, or answers `N` by chance, fails here
   * at once instead of timing out the pooler's own start-up.
   */
  startup?: ProbeStartup
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const where = `${host}:${port}`
    let settled = false
    let asked = false
    let socket: net.Socket | undefined
    const dialing = new AbortController()
    const done = (result: ProbeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      dialing.abort()
      socket?.destroy()
      resolve(result)
    }
    const notPg = (why: string): ProbeResult => ({
      ok: false,
      down: false,
      reason: `the origin ${where} is not a PostgreSQL server: ${why}`,
    })
    const timer = setTimeout(() => {
      done(
        asked
          ? notPg(`it did not answer an SSLRequest within ${timeoutMs} ms`)
          : {
              ok: false,
              down: true,
              reason: `connecting to ${where} timed out after ${timeoutMs} ms`,
            }
      )
    }, timeoutMs)
    const cannotConnect = (error: NodeJS.ErrnoException): void =>
      done({
        ok: false,
        down: true,
        reason: `cannot connect to ${where}: ${error.code ?? error.message}`,
      })
    const connected = (s: net.Socket): void => {
      socket = s
      if (settled) {
        s.destroy()
        return
      }
      // A server that speaks first is not PostgreSQL: give it a moment before asking.
      setTimeout(() => {
        if (settled) return
        asked = true
        s.write(SSL_REQUEST)
      }, 100)
      let started = false
      s.on('data', (chunk: Buffer) => {
        if (settled) return
        if (!asked) return done(notPg(describe(chunk)))
        const first = chunk[0]
        if (started) {
          // R: authentication, E: an error (e.g. no such role), v: NegotiateProtocolVersion.
          if (first === 0x52 || first === 0x45 || first === 0x76) return done({ ok: true })
          return done(
            notPg(`its answer to a StartupMessage is not PostgreSQL's (${describe(chunk)})`)
          )
        }
        if (chunk.length === 1 && first === 0x4e && startup !== undefined) {
          started = true
          s.write(startupMessage(startup))
          return
        }
        if (chunk.length === 1 && (first === 0x53 || first === 0x4e)) return done({ ok: true })
        if (first === 0x45 && chunk.length >= 5) return done({ ok: true })
        done(notPg(describe(chunk)))
      })
      s.once('end', () =>
        done(
          notPg(
            started
              ? 'it closed the connection without answering a StartupMessage'
              : 'it closed the connection without answering an SSLRequest'
          )
        )
      )
      // A tunnel flow comes paused (nothing is read before its owner listens).
      s.resume()
    }
    if (dial !== undefined) {
      dial(dialing.signal).then((s) => {
        s.on('error', (error: NodeJS.ErrnoException) => cannotConnect(error))
        connected(s)
      }, cannotConnect)
      return
    }
    const tcp = net.connect({ host, port })
    socket = tcp
    tcp.once('error', cannotConnect)
    tcp.once('connect', () => connected(tcp))
  })
}
