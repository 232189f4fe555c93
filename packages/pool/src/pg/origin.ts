/**
 * One connection to the origin database: TCP (optionally TLS via SSLRequest), startup, and
 * authentication (trust, cleartext, md5, SCRAM-SHA-256 with server signature check). After that
 * it is a frame pipe: whoever leases it sets `onFrame`.
 */
import net from 'node:net'
import tls from 'node:tls'
import { connectOrigin, type OriginDial } from '../core/origin-dial.js'
import { OriginAuthError, OriginError, OriginTimeoutError, OriginTlsError } from '../errors.js'
import * as m from './protocol.js'
import { ScramClient, md5Password } from './scram.js'
import { BodyReader, FrameReader, type Frame } from './wire.js'

export interface OriginOptions {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password?: string
  readonly database: string
  /** TLS to the origin: off, or on with verification (optional extra CA, servername). */
  readonly tls?:
    | false
    | {
        readonly ca?: string | readonly string[]
        readonly servername?: string
        readonly verify?: boolean
        /** sslmode=prefer: fall back to plain TCP if the origin answers 'N'. */
        readonly optional?: boolean
      }
  readonly connectTimeoutMs: number
  readonly maxMessageBytes: number
  /** A logical replication connection (`replication=database`), for WAL invalidation. */
  readonly replication?: boolean
  /** Reaches the origin another way than TCP to host:port (see core/origin-dial.ts). */
  readonly dial?: OriginDial
}

let nextOriginId = 1

export class OriginConnection {
  readonly host: string
  readonly port: number
  readonly id = nextOriginId++
  readonly parameters = new Map<string, string>()
  pid = 0
  secretKey = 0
  /** Internal names of statements prepared on this connection (all dropped past a bound). */
  readonly prepared = new Map<string, true>()
  /** Session state was changed (SET, ...): reset before the next lease. */
  dirty = false
  broken = false
  lastUsed = Date.now()
  onFrame: ((frame: Frame) => void) | undefined
  /** The pool's bookkeeping when the connection ends. */
  onClose: ((error: Error | undefined) => void) | undefined
  /** The leasing session's, while leased: its transaction is gone. */
  onLeaseLost: ((error: Error | undefined) => void) | undefined

  private constructor(
    private socket: net.Socket,
    private readonly reader: FrameReader,
    options: OriginOptions
  ) {
    this.host = options.host
    this.port = options.port
  }

  static async open(options: OriginOptions): Promise<OriginConnection> {
    const reader = new FrameReader(options.maxMessageBytes)
    const dialing = new AbortController()
    let socket: net.Socket | undefined
    const deadline = setTimeout(() => {
      const error = new OriginTimeoutError(
        `connecting to the origin timed out after ${options.connectTimeoutMs} ms`
      )
      dialing.abort(error)
      socket?.destroy(error)
    }, options.connectTimeoutMs)
    try {
      socket = await connectOrigin(options.host, options.port, dialing.signal, options.dial)
      if (options.tls) {
        socket.write(m.sslRequest())
        const answer = await readBytes(socket, 1)
        if (answer[0] === 0x53) {
          const secure = tls.connect({
            socket,
            servername:
              options.tls.servername ?? (net.isIP(options.host) ? undefined : options.host),
            ...(options.tls.ca === undefined
              ? {}
              : { ca: [...tls.rootCertificates, ...[options.tls.ca].flat()] }),
            rejectUnauthorized: options.tls.verify !== false,
          } as tls.ConnectionOptions)
          await new Promise<void>((resolve, reject) => {
            secure.once('secureConnect', resolve)
            secure.once('error', reject)
          })
          socket = secure
        } else if (!options.tls.optional) {
          throw new OriginTlsError(
            'the origin refused TLS (answered N to SSLRequest) and sslmode requires it'
          )
        }
      }
      const conn = new OriginConnection(socket, reader, options)
      await conn.startup(options)
      clearTimeout(deadline)
      conn.attach()
      return conn
    } catch (error) {
      clearTimeout(deadline)
      socket?.destroy()
      throw error instanceof OriginError
        ? error
        : new OriginError(`origin ${options.host}:${options.port}: ${(error as Error).message}`)
    }
  }

  /** Reads frames until ReadyForQuery, answering authentication requests on the way. */
  private async startup(options: OriginOptions): Promise<void> {
    this.socket.write(
      m.startupMessage({
        user: options.user,
        database: options.database,
        application_name: options.replication ? 'wharf pool wal' : 'wharf pool',
        client_encoding: 'UTF8',
        ...(options.replication ? { replication: 'database' } : {}),
      })
    )
    let scram: ScramClient | undefined
    for (let i = 0; i < 1000; i++) {
      const frame = await this.nextFrame()
      const r = new BodyReader(frame.body)
      switch (frame.type) {
        case 'R': {
          const kind = r.int32()
          if (kind === 0) break
          const password = options.password
          if (password === undefined)
            throw new OriginAuthError('the origin asks for a password and none is configured')
          if (kind === 3) this.socket.write(m.passwordMessage(password))
          else if (kind === 5)
            this.socket.write(m.passwordMessage(md5Password(options.user, password, r.bytes(4))))
          else if (kind === 10) {
            const mechanisms: string[] = []
            for (let j = 0; j < 16 && r.remaining > 1; j++) mechanisms.push(r.cstring())
            if (!mechanisms.includes('SCRAM-SHA-256'))
              throw new OriginAuthError(`the origin offers only ${mechanisms.join(', ')}`)
            scram = new ScramClient(password)
            this.socket.write(m.saslInitial('SCRAM-SHA-256', scram.first()))
          } else if (kind === 11 && scram)
            this.socket.write(m.saslResponse(scram.final(r.rest().toString())))
          else if (kind === 12 && scram) scram.verify(r.rest().toString())
          else
            throw new OriginAuthError(`unsupported authentication request ${kind} from the origin`)
          break
        }
        case 'S':
          this.parameters.set(r.cstring(), r.cstring())
          break
        case 'K':
          this.pid = r.int32()
          this.secretKey = r.int32()
          break
        case 'Z':
          return
        case 'E': {
          const f = m.parseErrorFields(frame.body)
          const message = `origin refused the connection: ${f.M ?? 'error'}`
          throw f.C === '28P01' || f.C === '28000'
            ? new OriginAuthError(message, f.C)
            : new OriginError(message, f.C)
        }
        case 'N':
        case 'v':
          break
        default:
          throw new OriginError(`unexpected message '${frame.type}' during origin startup`)
      }
    }
    throw new OriginError('origin startup did not finish')
  }

  private nextFrame(): Promise<Frame> {
    const ready = this.reader.next()
    if (ready) return Promise.resolve(ready)
    return new Promise((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        this.reader.push(chunk)
        let frame: Frame | undefined
        try {
          frame = this.reader.next()
        } catch (error) {
          cleanup()
          reject(error)
          return
        }
        if (frame) {
          cleanup()
          resolve(frame)
        }
      }
      const onEnd = (): void => {
        cleanup()
        reject(new OriginError('the origin closed the connection during startup'))
      }
      const onError = (error: Error): void => {
        cleanup()
        reject(error)
      }
      const cleanup = (): void => {
        this.socket.off('data', onData)
        this.socket.off('close', onEnd)
        this.socket.off('error', onError)
      }
      this.socket.on('data', onData)
      this.socket.once('close', onEnd)
      this.socket.once('error', onError)
      this.socket.resume()
    })
  }

  /** From now on frames go to `onFrame` (or, with no lease, a fatal error marks it broken). */
  private attach(): void {
    this.socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk)
      try {
        for (let frame = this.reader.next(); frame; frame = this.reader.next()) {
          if (this.onFrame) this.onFrame(frame)
          else if (frame.type === 'E')
            this.fail(
              new OriginError(`origin error while idle: ${m.parseErrorFields(frame.body).M ?? ''}`)
            )
        }
      } catch (error) {
        this.fail(error as Error)
      }
    })
    this.socket.on('error', (error: Error) => this.fail(error))
    // Every way of ending (fail, close, the origin going away) reports once, here.
    this.socket.once('close', () => {
      this.broken = true
      const onClose = this.onClose
      const onLeaseLost = this.onLeaseLost
      this.onClose = undefined
      this.onLeaseLost = undefined
      onClose?.(this.failure)
      onLeaseLost?.(this.failure)
    })
  }

  private failure: Error | undefined

  private fail(error: Error): void {
    if (this.broken) return
    this.broken = true
    this.failure = error
    this.socket.destroy()
    // A lease in progress learns of it through onFrame's owner (the session) via onClose.
  }

  /** Runs one simple query on an unleased connection and returns its rows as text. */
  async simpleQuery(text: string, timeoutMs = 10_000): Promise<(string | null)[][]> {
    return new Promise((resolve, reject) => {
      const rows: (string | null)[][] = []
      let error: Error | undefined
      const timer = setTimeout(() => {
        this.onFrame = undefined
        reject(new OriginError(`query timed out: ${text.slice(0, 60)}`))
      }, timeoutMs)
      this.onFrame = (frame) => {
        if (frame.type === 'D') {
          const r = new BodyReader(frame.body)
          const n = r.int16()
          const row: (string | null)[] = []
          for (let i = 0; i < n; i++) {
            const len = r.int32()
            row.push(len < 0 ? null : r.bytes(len).toString())
          }
          rows.push(row)
        } else if (frame.type === 'E') {
          error = new OriginError(m.parseErrorFields(frame.body).M ?? 'query failed')
        } else if (frame.type === 'Z') {
          clearTimeout(timer)
          this.onFrame = undefined
          if (error) reject(error)
          else resolve(rows)
        }
      }
      this.write(m.query(text))
    })
  }

  write(data: Buffer): void {
    if (!this.broken) this.socket.write(data)
  }

  /** Batches the writes of one client read into one send. */
  cork(): void {
    this.socket.cork()
  }

  uncork(): void {
    this.socket.uncork()
  }

  /** Stops reading from the origin (backpressure from a slow client). */
  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  get writableNeedDrain(): boolean {
    return this.socket.writableNeedDrain
  }

  close(): void {
    if (this.broken) return
    this.broken = true
    this.socket.end(m.terminate())
    // Don't wait for the origin's FIN forever.
    setTimeout(() => this.socket.destroy(), 1000).unref()
  }
}

function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onReadable = (): void => {
      const chunk = socket.read(n) as Buffer | null
      if (chunk) {
        socket.off('readable', onReadable)
        socket.off('error', reject)
        resolve(chunk)
      }
    }
    socket.on('readable', onReadable)
    socket.once('error', reject)
    onReadable()
  })
}
