/**
 * One connection to the MySQL/MariaDB origin: handshake v10, TLS per `ssl-mode`, auth with
 * mysql_native_password or caching_sha2_password (fast path, full path over TLS or with the
 * server's RSA key), then one command at a time. A response is read as a sequence of logical
 * packets until the protocol says it is complete, each handed to the caller as it arrives.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { OriginDial } from '../core/origin-dial.js'
import {
  OriginAuthError,
  OriginError,
  OriginTimeoutError,
  OriginTlsError,
  ProtocolError,
} from '../errors.js'
import { encryptPassword, scramble, type AuthPlugin } from './auth.js'
import {
  CAP,
  COM,
  Cursor,
  PacketReader,
  STATUS,
  eofStatus,
  framed,
  isEof,
  okStatus,
  parseErr,
  type Packet,
  type ServerError,
} from './packets.js'

export type SslMode = 'disabled' | 'preferred' | 'required' | 'verify_ca' | 'verify_identity'

export interface MysqlOriginOptions {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
  readonly sslMode: SslMode
  readonly ca?: string
  readonly connectTimeoutMs: number
  readonly maxPacketBytes: number
  /** Reaches the origin another way than TCP to host:port (see core/origin-dial.ts). */
  readonly dial?: OriginDial
}

/** What the origin's response to a command looks like, to know where it ends. */
export type ResponseKind = 'query' | 'execute' | 'prepare' | 'ok' | 'statistics'

export interface CommandResult {
  /** Status flags of the last OK/EOF (or the connection's previous ones after an ERR). */
  readonly status: number
  readonly error?: ServerError
  /** For 'prepare': the origin's statement id and counts. */
  readonly prepared?: { readonly id: number; readonly columns: number; readonly params: number }
}

/** Receives one packet of a response: its payload, and its wire bytes if it was not split. */
export type OnPacket = (payload: Buffer, raw: Buffer | undefined) => void

const ignore: OnPacket = () => undefined

/**
 * A command packet of `size` payload bytes, framed with sequence id 0, for `commandFramed()`:
 * the caller writes the payload from offset 4, so the command is built in one allocation.
 */
export function commandPacket(size: number): Buffer {
  if (size >= 0xffffff) throw new RangeError('commandPacket: use command() for split payloads')
  const out = Buffer.allocUnsafe(4 + size)
  out.writeUIntLE(size, 0, 3)
  out[3] = 0
  return out
}

/** Capabilities the pooler asks of origins: no DEPRECATE_EOF, no LOCAL_FILES, no compression. */
const ORIGIN_CAPS =
  CAP.LONG_PASSWORD |
  CAP.FOUND_ROWS |
  CAP.LONG_FLAG |
  CAP.CONNECT_WITH_DB |
  CAP.PROTOCOL_41 |
  CAP.TRANSACTIONS |
  CAP.SECURE_CONNECTION |
  CAP.MULTI_STATEMENTS |
  CAP.MULTI_RESULTS |
  CAP.PS_MULTI_RESULTS |
  CAP.PLUGIN_AUTH |
  CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA

/** utf8mb4_general_ci: what the pooler's origin connections speak. */
export const ORIGIN_COLLATION = 45

/** Bytes beyond one packet an origin may send that no command has asked for yet. */
const UNASKED_BYTES = 1024 * 1024

let nextId = 1

export class MysqlOrigin {
  readonly id = nextId++
  serverVersion = ''
  connectionId = 0
  serverCapabilities = 0
  status: number = STATUS.AUTOCOMMIT
  /** Origin statement ids by SQL text. */
  readonly prepared = new Map<string, { id: number; columns: number; params: number }>()
  /** Session state was changed: COM_RESET_CONNECTION before the next client. */
  dirty = false
  broken = false
  lastUsed = Date.now()
  /** The schema currently selected on the origin. */
  database: string
  tlsUsed = false
  onClose: ((error: Error | undefined) => void) | undefined
  /** Set by the lessee: the connection died under it. */
  onLeaseLost: ((error: Error | undefined) => void) | undefined
  private socket: net.Socket
  private readonly reader: PacketReader
  private waiter: ((packet: Packet | Error) => void) | undefined
  private failure: Error | undefined
  private busy = false

  private constructor(
    socket: net.Socket,
    readonly options: MysqlOriginOptions
  ) {
    this.socket = socket
    this.database = options.database
    this.reader = new PacketReader(options.maxPacketBytes)
    this.attach(socket)
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk)
      this.pump()
    })
    socket.on('error', (error) => this.fail(error))
    socket.on('close', () => this.fail(new OriginError('the origin closed the connection')))
  }

  // Packets stay in the reader until asked for (a result set's rows are taken synchronously,
  // without a promise each); what nobody asks for is bounded.
  private pump(): void {
    while (this.waiter) {
      const p = this.take()
      if (!p) break
      const w = this.waiter
      this.waiter = undefined
      w(p)
    }
    if (!this.waiter && this.reader.pending > this.options.maxPacketBytes + UNASKED_BYTES) {
      this.fail(new ProtocolError('the origin sent packets nobody asked for'))
    }
  }

  /** The next whole packet already received, if any. */
  private take(): Packet | undefined {
    try {
      return this.reader.next()
    } catch (error) {
      this.fail(error as Error)
      return undefined
    }
  }

  private fail(error: Error): void {
    if (this.broken) return
    this.broken = true
    this.failure = error
    this.socket.destroy()
    const w = this.waiter
    this.waiter = undefined
    w?.(error)
    this.onLeaseLost?.(error)
    this.onClose?.(error)
  }

  private read(timeoutMs?: number): Promise<Packet> {
    const ready = this.take()
    if (ready) return Promise.resolve(ready)
    if (this.broken) {
      return Promise.reject(this.failure ?? new OriginError('the origin connection is closed'))
    }
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.waiter = undefined
              reject(new OriginTimeoutError('the origin did not answer in time'))
            }, timeoutMs)
      this.waiter = (item) => {
        clearTimeout(timer)
        if (item instanceof Error) reject(item)
        else resolve(item)
      }
    })
  }

  /**
   * One write per packet: MariaDB reads a command's header, then its payload; a payload sent as a
   * TCP segment of its own makes it sleep in poll() between the two (and costs it a wake-up).
   */
  private send(payload: Buffer, seq: number): void {
    this.socket.write(framed(payload, seq))
  }

  /** Pauses reading from the origin (the client is slow); `resume()` undoes it. */
  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  static async open(options: MysqlOriginOptions): Promise<MysqlOrigin> {
    let socket: net.Socket
    if (options.dial === undefined) {
      socket = net.connect({ host: options.host, port: options.port })
      socket.setNoDelay(true)
    } else {
      try {
        socket = await options.dial(AbortSignal.timeout(options.connectTimeoutMs))
      } catch (error) {
        throw new OriginError(
          `cannot connect to the origin ${options.host}:${options.port}: ${(error as Error).message}`
        )
      }
    }
    const conn = new MysqlOrigin(socket, options)
    const timer = setTimeout(
      () =>
        conn.fail(
          new OriginTimeoutError(
            `connecting to the origin ${options.host}:${options.port} took longer than ${options.connectTimeoutMs} ms`
          )
        ),
      options.connectTimeoutMs
    )
    try {
      await conn.handshake()
      return conn
    } catch (error) {
      conn.fail(error as Error)
      const e = error as Error & { code?: string }
      if (e instanceof OriginError) throw e
      throw new OriginError(
        `cannot connect to the origin ${options.host}:${options.port}: ${e.message}`
      )
    } finally {
      clearTimeout(timer)
    }
  }

  private async handshake(): Promise<void> {
    const o = this.options
    const greeting = await this.read()
    const g = greeting.payload
    if (g[0] === 0xff) {
      const err = parseErr(g)
      throw new OriginError(`the origin refused the connection: ${err.message}`)
    }
    const c = new Cursor(g)
    if (c.u8() !== 10) throw new OriginError('the origin does not speak handshake v10')
    this.serverVersion = c.nul().toString('latin1')
    this.connectionId = c.u32()
    const part1 = c.bytes(8)
    c.u8()
    let caps = c.u16()
    let nonce = part1
    let plugin = 'mysql_native_password'
    if (c.left > 0) {
      c.u8() // charset
      c.u16() // status
      caps |= c.u16() << 16
      const dataLength = c.u8()
      c.bytes(10)
      if (caps & CAP.SECURE_CONNECTION) {
        const part2 = c.bytes(Math.max(13, dataLength - 8))
        nonce = Buffer.concat([part1, part2.subarray(0, 12)])
      }
      if (caps & CAP.PLUGIN_AUTH) plugin = c.nul(true).toString('latin1')
    }
    this.serverCapabilities = caps >>> 0
    let seq = greeting.lastSeq + 1
    const wantTls = o.sslMode !== 'disabled'
    const serverTls = (caps & CAP.SSL) !== 0
    if (wantTls && !serverTls && o.sslMode !== 'preferred') {
      throw new OriginTlsError(
        `ssl-mode=${o.sslMode.toUpperCase()} but the origin does not offer TLS`
      )
    }
    let flags = ORIGIN_CAPS & (caps | CAP.PROTOCOL_41)
    if (o.database === '') flags &= ~CAP.CONNECT_WITH_DB
    const head = Buffer.alloc(32)
    if (wantTls && serverTls) {
      flags |= CAP.SSL
      head.writeUInt32LE(flags >>> 0, 0)
      head.writeUInt32LE(o.maxPacketBytes, 4)
      head[8] = ORIGIN_COLLATION
      this.send(head, seq++)
      await this.upgrade()
    } else {
      head.writeUInt32LE(flags >>> 0, 0)
      head.writeUInt32LE(o.maxPacketBytes, 4)
      head[8] = ORIGIN_COLLATION
    }
    const method: AuthPlugin =
      plugin === 'caching_sha2_password' ? 'caching_sha2_password' : 'mysql_native_password'
    const token = scramble(method, o.password, nonce)
    const response = Buffer.concat([
      head,
      Buffer.from(o.user),
      Buffer.from([0]),
      Buffer.from([token.length]),
      token,
      ...(flags & CAP.CONNECT_WITH_DB ? [Buffer.from(o.database), Buffer.from([0])] : []),
      Buffer.from(method),
      Buffer.from([0]),
    ])
    this.send(response, seq)
    await this.authenticate(method, nonce)
  }

  private async upgrade(): Promise<void> {
    const o = this.options
    const plain = this.socket
    plain.removeAllListeners('data')
    plain.removeAllListeners('close')
    plain.removeAllListeners('error')
    const verify = o.sslMode === 'verify_ca' || o.sslMode === 'verify_identity'
    const secure = tls.connect({
      socket: plain,
      servername: net.isIP(o.host) ? undefined : o.host,
      rejectUnauthorized: verify,
      ...(o.ca === undefined ? {} : { ca: o.ca }),
      // VERIFY_CA checks the chain only; VERIFY_IDENTITY checks the name too.
      ...(o.sslMode === 'verify_ca' ? { checkServerIdentity: () => undefined } : {}),
    })
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve)
      secure.once('error', reject)
    })
    this.socket = secure
    this.tlsUsed = true
    this.attach(secure)
  }

  private async authenticate(method: AuthPlugin, nonce: Buffer): Promise<void> {
    const o = this.options
    let plugin = method
    let currentNonce = nonce
    for (let round = 0; round < 5; round++) {
      const packet = await this.read()
      const p = packet.payload
      const seq = packet.lastSeq + 1
      if (p[0] === 0x00) {
        this.status = okStatus(p)
        return
      }
      if (p[0] === 0xff) {
        const err = parseErr(p)
        const auth = err.code === 1045 || err.code === 1044 || err.sqlState === '28000'
        const message = `the origin refused the login: ${err.message}`
        throw auth
          ? new OriginAuthError(message, err.sqlState)
          : new OriginError(message, err.sqlState)
      }
      if (p[0] === 0xfe) {
        // AuthSwitchRequest: a plugin name and a fresh nonce.
        const c = new Cursor(p)
        c.u8()
        const name = c.nul(true).toString('latin1')
        if (name !== 'mysql_native_password' && name !== 'caching_sha2_password') {
          throw new OriginAuthError(
            `the origin asks for the ${name} auth plugin; the pooler speaks mysql_native_password and caching_sha2_password`
          )
        }
        plugin = name
        currentNonce = c.nul(true)
        this.send(scramble(plugin, o.password, currentNonce), seq)
        continue
      }
      if (p[0] === 0x01 && plugin === 'caching_sha2_password') {
        if (p[1] === 0x03) continue // fast auth done: OK follows
        if (p[1] === 0x04) {
          if (this.tlsUsed) {
            this.send(Buffer.from(`${o.password}\0`), seq)
          } else {
            this.send(Buffer.from([0x02]), seq)
            const key = await this.read()
            if (key.payload[0] !== 0x01) throw new OriginError('the origin sent no RSA public key')
            const pem = key.payload.subarray(1).toString('latin1')
            this.send(encryptPassword(o.password, currentNonce, pem), key.lastSeq + 1)
          }
          continue
        }
      }
      throw new OriginAuthError('unexpected packet during the origin login')
    }
    throw new OriginAuthError('the origin login did not finish')
  }

  /**
   * Sends one command and reads its whole response, passing each packet to `onPacket` in order
   * (its payload, and its wire bytes when it was one physical packet). Only one command runs at a
   * time.
   */
  command(
    payload: Buffer,
    kind: ResponseKind | 'none',
    onPacket?: OnPacket,
    timeoutMs?: number
  ): Promise<CommandResult> {
    return this.exchange(payload, false, kind, onPacket ?? ignore, timeoutMs)
  }

  /** `command()` for a payload already framed with sequence id 0 (see `commandPacket()`). */
  commandFramed(
    packet: Buffer,
    kind: ResponseKind,
    onPacket?: OnPacket,
    timeoutMs?: number
  ): Promise<CommandResult> {
    return this.exchange(packet, true, kind, onPacket ?? ignore, timeoutMs)
  }

  private async exchange(
    bytes: Buffer,
    isFramed: boolean,
    kind: ResponseKind | 'none',
    onPacket: OnPacket,
    timeoutMs: number | undefined
  ): Promise<CommandResult> {
    if (this.busy) throw new OriginError('the origin connection is busy')
    if (this.broken) throw new OriginError('the origin connection is closed')
    this.busy = true
    try {
      if (isFramed) this.socket.write(bytes)
      else this.send(bytes, 0)
      if (kind === 'none') return { status: this.status }
      return await this.response(kind, onPacket, timeoutMs)
    } finally {
      this.busy = false
      this.lastUsed = Date.now()
    }
  }

  private async response(
    kind: ResponseKind,
    onPacket: OnPacket,
    timeoutMs: number | undefined
  ): Promise<CommandResult> {
    // A packet already received is handled at once; only a wait for bytes costs a promise.
    const next = (): Buffer | Promise<Buffer> => {
      const ready = this.take()
      if (ready) {
        onPacket(ready.payload, ready.raw)
        return ready.payload
      }
      return this.read(timeoutMs).then((p) => {
        onPacket(p.payload, p.raw)
        return p.payload
      })
    }
    const checkEof = (eof: Buffer): void => {
      if (!isEof(eof)) throw new ProtocolError('the origin sent no EOF after column definitions')
    }
    /** `n` definitions and their EOF; a promise only if it has to wait for bytes. */
    const definitions = (n: number, from = 0): Promise<void> | undefined => {
      for (let i = from; i < n; i++) {
        const d = next()
        if (d instanceof Promise) return d.then(() => definitions(n, i + 1))
      }
      const eof = next()
      if (eof instanceof Promise) return eof.then(checkEof)
      checkEof(eof)
      return undefined
    }
    const first = await next()
    if (first[0] === 0xff) return { status: this.status, error: parseErr(first) }
    if (kind === 'ok' || kind === 'statistics') {
      if (kind === 'ok' && first[0] === 0x00) this.status = okStatus(first)
      return { status: this.status }
    }
    if (kind === 'prepare') {
      const c = new Cursor(first)
      c.u8()
      const id = c.u32()
      const columns = c.u16()
      const params = c.u16()
      if (params > 0) await definitions(params)
      if (columns > 0) await definitions(columns)
      return { status: this.status, prepared: { id, columns, params } }
    }
    // Result sets, possibly several (multi-statements, CALL).
    let p = first
    for (let results = 0; results < 100_000; results++) {
      if (p[0] === 0xff) return { status: this.status, error: parseErr(p) }
      let status: number
      if (p[0] === 0x00) {
        status = okStatus(p)
      } else if (p[0] === 0xfb) {
        // LOCAL INFILE request: never asked for (no CLIENT_LOCAL_FILES), so the stream is off.
        throw new ProtocolError('the origin asked for a LOCAL INFILE file')
      } else {
        const columns = new Cursor(p).lenenc()
        const waiting = definitions(columns)
        if (waiting) await waiting
        for (;;) {
          let row = next()
          if (row instanceof Promise) row = await row
          if (row[0] === 0xff) return { status: this.status, error: parseErr(row) }
          if (isEof(row)) {
            status = eofStatus(row)
            break
          }
        }
      }
      this.status = status
      if ((status & STATUS.MORE_RESULTS) === 0) return { status }
      p = await next()
    }
    throw new ProtocolError('too many result sets')
  }

  /** COM_RESET_CONNECTION, then the default schema again: clean for the next client. */
  async reset(): Promise<boolean> {
    const result = await this.command(Buffer.from([COM.RESET_CONNECTION]), 'ok', undefined, 5000)
    if (result.error) return false
    this.prepared.clear()
    this.dirty = false
    if (this.database !== this.options.database) return this.useDatabase(this.options.database)
    return true
  }

  async useDatabase(database: string): Promise<boolean> {
    const result = await this.command(
      Buffer.concat([Buffer.from([COM.INIT_DB]), Buffer.from(database)]),
      'ok',
      undefined,
      10_000
    )
    if (result.error) return false
    this.database = database
    return true
  }

  close(): void {
    if (this.broken) return
    try {
      this.send(Buffer.from([COM.QUIT]), 0)
    } catch {
      // closing anyway
    }
    this.socket.end()
    this.broken = true
    setTimeout(() => this.socket.destroy(), 1000).unref()
    this.onClose?.(undefined)
  }
}
