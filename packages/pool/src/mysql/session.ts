/**
 * One MySQL client: the connection phase (greeting, optional TLS, caching_sha2_password or
 * mysql_native_password), then commands one at a time with transaction pooling. The client holds
 * an origin connection while the origin says a transaction is open (or autocommit is off), while
 * session state it set lives there (SET, user variables, LOCK TABLES, GET_LOCK, temporary tables),
 * and gives it back otherwise; a connection whose state changed is reset (COM_RESET_CONNECTION)
 * before another client gets it. Prepared statements are shared across origin connections: each
 * client id maps to SQL text, prepared on whichever connection runs it.
 */
import type net from 'node:net'
import tls from 'node:tls'
import type { CachedResult, QueryCache, StoreToken } from '../core/cache.js'
import type { OriginPool } from '../core/origin-pool.js'
import { OriginError, PoolExhaustedError, ProtocolError } from '../errors.js'
import { checkScramble, newNonce, samePassword, type AuthPlugin, type RsaKeys } from './auth.js'
import {
  greeting,
  isUtf8Collation,
  parseHandshakeResponse,
  SERVER_CAPS,
  type HandshakeResponse,
} from './handshake.js'
import { ORIGIN_COLLATION, commandPacket, type MysqlOrigin, type ResponseKind } from './origin.js'
import {
  CAP,
  COM,
  Cursor,
  MAX_PACKET,
  PacketReader,
  STATUS,
  eofPacket,
  errPacket,
  frame,
  okPacket,
  type Packet,
  type ServerError,
} from './packets.js'
import * as sql from './sql.js'

export type MysqlClientAuth =
  | { readonly method: 'trust' }
  | {
      readonly method: 'password'
      readonly user: string
      readonly password: string
      /** Methods accepted; the first is offered in the greeting. */
      readonly plugins: readonly AuthPlugin[]
    }

/** A cacheable request, to key it and to re-run it for stale-while-revalidate. */
export interface MysqlCacheRequest {
  readonly database: string
  readonly text: string
  /** For COM_STMT_EXECUTE: the bytes after the statement id (flags, params). */
  readonly execute?: Buffer
  readonly tables: readonly string[]
}

export interface MysqlShared {
  readonly pool: OriginPool<MysqlOrigin>
  readonly cache: QueryCache | undefined
  readonly auth: MysqlClientAuth
  readonly rsa: RsaKeys
  readonly database: string
  readonly serverVersion: string
  readonly tls: tls.SecureContext | undefined
  readonly maxPacketBytes: number
  readonly startupTimeoutMs: number
  /** Users that completed caching_sha2_password's full path: they may use the fast path. */
  readonly sha2Cache: Set<string>
  /** The connection id the n-th client is told (the greeting's thread id). */
  readonly connectionId: (n: number) => number
  readonly sessions: Set<MysqlSession>
  /**
   * `KILL [QUERY] id` from a client: finds the client with that connection id (here, or through
   * the process group) and kills its statement or connection; false when no client has it.
   */
  kill(id: number, query: boolean): Promise<boolean>
  /** Runs `KILL QUERY thread` on the origin, on a pooled connection of its own. */
  killOriginQuery(thread: number): Promise<void>
  readonly stats: { clients: number; clientsTotal: number; refused: number }
  refresh(key: string, request: MysqlCacheRequest): void
  log(line: string): void
}

interface ClientStatement {
  readonly text: string
  readonly database: string
  /** What the pooler reads from the text, once at prepare. */
  readonly analysis: sql.Analysis
  /** The key of its origin statements in `MysqlOrigin.prepared` (schema and text). */
  readonly preparedKey: string
  /** `cacheKey()` of its executes up to the parameters, built once. */
  readonly keyPrefix: string
  readonly params: number
  readonly columns: number
  /** Parameter types from the last execute that sent them (a reused connection lacks them). */
  types: Buffer | undefined
  longData: boolean
}

/** Gathered client output written at once beyond this many bytes. */
const FLUSH_BYTES = 64 * 1024
const MAX_STATEMENTS_PER_CLIENT = 10_000
const MAX_PREPARED_PER_ORIGIN = 1_000
const CURSOR_FLAGS = 0x07

/** MySQL error numbers the pooler answers with itself (see docs/errors.md). */
export const ER = {
  ACCESS_DENIED: [1045, '28000'],
  BAD_DB: [1049, '42000'],
  HANDSHAKE: [1043, '08S01'],
  UNKNOWN_COM: [1047, '08S01'],
  TOO_LARGE: [1153, '08S01'],
  MALFORMED: [1835, 'HY000'],
  NOT_SUPPORTED: [1235, '42000'],
  NOT_ALLOWED: [1148, '42000'],
  UNKNOWN_STMT: [1243, 'HY000'],
  PARSE: [1064, '42000'],
  CHARSET: [1115, '42000'],
  TOO_MANY: [1040, '08004'],
  ORIGIN_GONE: [2013, 'HY000'],
  ORIGIN_DOWN: [2003, 'HY000'],
  NO_SUCH_THREAD: [1094, 'HY000'],
  CONNECTION_KILLED: [1927, '70100'],
} as const satisfies Record<string, readonly [number, string]>

let nextConnectionId = 1

export class MysqlSession {
  private socket: net.Socket
  private readonly reader: PacketReader
  private stage: 'greeting' | 'auth' | 'ready' | 'closed' = 'greeting'
  private readonly nonce = newNonce()
  /** The id the greeting gave the client (mysql2's `threadId`, what `KILL` names). */
  readonly connectionId: number
  private capabilities = 0
  private user = ''
  private database: string
  private plugin: AuthPlugin = 'mysql_native_password'
  private authStep: 'response' | 'switched' | 'full' | 'key' = 'response'
  private handshake: HandshakeResponse | undefined
  private lease: MysqlOrigin | undefined
  private pinned = false
  private lockedTables = false
  private status: number = STATUS.AUTOCOMMIT
  private seq = 0
  private readonly statements = new Map<number, ClientStatement>()
  private nextStatementId = 1
  private written: Set<string> | 'all' = new Set()
  private busy = false
  private draining = false
  private startupTimer: NodeJS.Timeout | undefined

  constructor(
    socket: net.Socket,
    private readonly shared: MysqlShared
  ) {
    this.socket = socket
    this.connectionId = shared.connectionId(nextConnectionId++)
    this.database = shared.database
    this.reader = new PacketReader(shared.maxPacketBytes)
    shared.sessions.add(this)
    shared.stats.clients++
    shared.stats.clientsTotal++
    this.startupTimer = setTimeout(
      () => this.fatal(ER.HANDSHAKE, 'Bad handshake: timed out'),
      shared.startupTimeoutMs
    )
    this.listen(socket)
    const auth = shared.auth
    this.plugin =
      auth.method === 'password'
        ? (auth.plugins[0] ?? 'caching_sha2_password')
        : 'mysql_native_password'
    this.send(
      greeting({
        serverVersion: shared.serverVersion,
        connectionId: this.connectionId,
        nonce: this.nonce,
        capabilities: SERVER_CAPS | (shared.tls ? CAP.SSL : 0),
        collation: ORIGIN_COLLATION,
        status: STATUS.AUTOCOMMIT,
        plugin: this.plugin,
      }),
      0
    )
    this.stage = 'auth'
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk)
      this.pump()
    })
    socket.on('error', () => this.gone())
    socket.on('close', () => this.gone())
  }

  // ---- output -------------------------------------------------------------------------------

  private out: Buffer[] = []
  private outBytes = 0
  private flushing = false

  /**
   * Writes to the client, gathered until the end of the current tick (or 64 KiB): a result set
   * of many rows leaves in one write, not one write call (and syscall) a packet.
   */
  private write(bytes: Buffer): boolean {
    this.out.push(bytes)
    this.outBytes += bytes.length
    if (!this.flushing) {
      this.flushing = true
      process.nextTick(() => {
        this.flushing = false
        this.flush()
      })
    }
    if (this.outBytes >= FLUSH_BYTES) return this.flush()
    return !this.socket.writableNeedDrain
  }

  private flush(): boolean {
    if (this.outBytes === 0 || this.socket.destroyed) {
      this.out = []
      this.outBytes = 0
      return !this.socket.writableNeedDrain
    }
    const data = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out, this.outBytes)
    this.out = []
    this.outBytes = 0
    return data === undefined || this.socket.write(data)
  }

  /** Ends the client connection after what was written. */
  private end(): void {
    this.flush()
    this.socket.end()
  }

  /** Writes one logical packet (split if large) with sequence id `seq` (default: the next one). */
  private send(payload: Buffer, seq = this.seq): boolean {
    const { bytes, next } = frame(payload, seq)
    this.seq = next
    let ok = true
    for (const b of bytes) ok = this.write(b) && ok
    return ok
  }

  private error(code: readonly [number, string], message: string): void {
    this.send(errPacket(code[0], code[1], message))
  }

  private forwardError(e: ServerError): void {
    this.send(errPacket(e.code, e.sqlState, e.message))
  }

  private fatal(code: readonly [number, string], message: string): void {
    if (this.stage === 'closed') return
    try {
      this.error(code, message)
    } catch {
      // the socket may be gone already
    }
    this.end()
    this.gone()
  }

  // ---- input --------------------------------------------------------------------------------

  /**
   * Handles packets one at a time; commands never overlap. A command the memory cache answers is
   * handled right here, synchronously (no promise, no pause): the common case of a hot set.
   */
  private pump(): void {
    if (this.busy || this.stage === 'closed') return
    let packet: Packet | undefined
    let answered = 0
    // Bounded: a client sending many hits at once yields to the event loop now and then.
    while (answered < 256) {
      try {
        packet = this.reader.next()
      } catch (error) {
        this.seq = 1 // the answer to the command that was too large
        this.fatal(ER.TOO_LARGE, (error as Error).message)
        return
      }
      if (!packet || !this.fromMemory(packet)) break
      answered++
      packet = undefined
    }
    if (answered > 0) this.flush()
    if (!packet) {
      if (answered === 256) setImmediate(() => this.pump())
      return
    }
    this.busy = true
    this.socket.pause()
    this.handle(packet)
      .catch((error: unknown) => {
        if (error instanceof ProtocolError)
          this.fatal(ER.MALFORMED, `Malformed communication packet: ${error.message}`)
        else this.fatal(ER.ORIGIN_GONE, `wharf pool: ${(error as Error).message}`)
      })
      .finally(() => {
        this.busy = false
        this.missed = undefined
        if (this.stage === 'closed') return
        this.socket.resume()
        this.pump()
      })
  }

  /**
   * A memory lookup done by `fromMemory` that missed: the command's handler goes on from there
   * (the store, then the origin) instead of looking again.
   */
  private missed: { key: string; mark: number } | undefined

  /**
   * Answers a cacheable COM_QUERY or COM_STMT_EXECUTE from the memory cache, if it can: the key
   * is the statement's (kept since prepare, or the text's) and the parameter bytes as sent, the
   * answer the cached packets as framed (sequence ids from 1, as the reply to a command's 0).
   * False: the command goes through `handle` (anything else, a miss, anything odd).
   */
  private fromMemory(packet: Packet): boolean {
    const cache = this.shared.cache
    if (!cache || this.stage !== 'ready' || packet.lastSeq !== 0) return false
    if (this.lease !== undefined && this.holding()) return false
    const p = packet.payload
    let key: string
    let request: MysqlCacheRequest
    if (p[0] === COM.STMT_EXECUTE) {
      if (p.length < 10) return false
      const st = this.statements.get(p.readUInt32LE(1))
      const info = st?.analysis.read
      if (!st || info?.cacheable !== true || st.longData || (p[5] ?? 0) & CURSOR_FLAGS) {
        return false
      }
      // The iteration count is always 1; onExecute writes 1 whatever was sent, so the key does.
      if (p[6] !== 1 || p[7] !== 0 || p[8] !== 0 || p[9] !== 0) return false
      let tail: Buffer
      if (st.params === 0) tail = p.subarray(5, 10)
      else {
        const bound = 10 + ((st.params + 7) >> 3)
        const typesEnd = bound + 1 + st.params * 2
        if (p.length < bound + 1) return false
        if (p[bound] === 1) {
          // As sent, this is the command onExecute builds: flags, count, nulls, 1, types, values.
          if (p.length < typesEnd) return false
          st.types = Buffer.from(p.subarray(bound + 1, typesEnd))
          tail = p.subarray(5)
        } else {
          if (!st.types) return false
          tail = Buffer.concat([p.subarray(5, bound), ONE, st.types, p.subarray(bound + 1)])
        }
      }
      key = st.keyPrefix + tail.toString('base64')
      request = { database: st.database, text: st.text, execute: tail, tables: info.tables }
    } else if (p[0] === COM.QUERY) {
      const text = p.subarray(1).toString('utf8')
      const analysis = sql.analyze(text)
      const info = analysis.read
      if (info?.cacheable !== true || analysis.refusal || analysis.stmts.length !== 1) return false
      request = { database: this.database, text, tables: info.tables }
      key = cacheKey(request)
    } else return false
    const mark = cache.mark()
    const hit = cache.get(key)
    if (!hit) {
      this.missed = { key, mark }
      return false
    }
    this.out.push(hit.result.rows)
    this.outBytes += hit.result.rows.length
    if (hit.shouldRefresh) this.shared.refresh(key, request)
    return true
  }

  private async handle(packet: Packet): Promise<void> {
    this.seq = packet.lastSeq + 1
    if (this.stage === 'auth') return this.onAuth(packet)
    if (this.stage !== 'ready') return
    const p = packet.payload
    const command = p[0]
    switch (command) {
      case COM.QUIT:
        this.busy = false // nothing in flight: the connection goes back (reset if dirty)
        this.end()
        this.gone()
        return
      case COM.PING:
        this.send(okPacket(this.status))
        return
      case COM.QUERY:
        return this.onQuery(packet)
      case COM.INIT_DB:
        return this.onInitDb(p.subarray(1).toString('utf8'))
      case COM.STMT_PREPARE:
        return this.onPrepare(p.subarray(1).toString('utf8'))
      case COM.STMT_EXECUTE:
        return this.onExecute(packet)
      case COM.STMT_CLOSE:
        this.statements.delete(new Cursor(p.subarray(1)).u32())
        return
      case COM.STMT_RESET: {
        const st = this.statements.get(new Cursor(p.subarray(1)).u32())
        if (!st)
          this.error(
            ER.UNKNOWN_STMT,
            'Unknown prepared statement handler given to mysqld_stmt_reset'
          )
        else {
          st.longData = false
          this.send(okPacket(this.status))
        }
        return
      }
      case COM.STMT_SEND_LONG_DATA: {
        // No response is sent for this command; the statement's next execute is refused.
        const st = this.statements.get(new Cursor(p.subarray(1)).u32())
        if (st) st.longData = true
        return
      }
      case COM.RESET_CONNECTION:
        return this.onResetConnection()
      case COM.SET_OPTION: {
        const option = new Cursor(p.subarray(1)).u16()
        if (option === 0) this.capabilities |= CAP.MULTI_STATEMENTS
        else if (option === 1) this.capabilities &= ~CAP.MULTI_STATEMENTS
        else {
          this.error(ER.UNKNOWN_COM, 'Unknown COM_SET_OPTION option')
          return
        }
        this.send(eofPacket(this.status))
        return
      }
      case COM.STATISTICS:
        return this.forward(packet, 'statistics')
      case COM.STMT_FETCH:
        this.refuse('cursors (COM_STMT_FETCH)')
        return
      case COM.CHANGE_USER:
        this.refuse('COM_CHANGE_USER (connect again instead)')
        return
      default:
        this.error(ER.UNKNOWN_COM, `Unknown command ${command ?? 'none'}`)
    }
  }

  private refuse(what: string): void {
    this.shared.stats.refused++
    this.error(
      ER.NOT_SUPPORTED,
      `wharf pool (transaction pooling, as Hyperdrive) does not support ${what}`
    )
  }

  // ---- connection phase ---------------------------------------------------------------------

  private async onAuth(packet: Packet): Promise<void> {
    const auth = this.shared.auth
    const p = packet.payload
    if (this.authStep === 'response') {
      let response: HandshakeResponse
      try {
        response = parseHandshakeResponse(p, SERVER_CAPS | (this.shared.tls ? CAP.SSL : 0))
      } catch (error) {
        this.fatal(ER.HANDSHAKE, (error as Error).message)
        return
      }
      if (response.sslRequest) {
        this.startTls()
        return
      }
      this.handshake = response
      this.capabilities = response.capabilities
      this.user = response.user
      if (!isUtf8Collation(response.collation)) {
        this.fatal(
          ER.CHARSET,
          `wharf pool speaks utf8mb4 to the origin: connect with a utf8 or utf8mb4 collation (got collation ${response.collation})`
        )
        return
      }
      if (auth.method === 'trust') return this.loggedIn()
      if (response.user !== auth.user) return this.denied()
      const named = response.plugin ?? 'mysql_native_password'
      if (auth.plugins.includes(named as AuthPlugin)) {
        this.plugin = named as AuthPlugin
        // The client scrambled with the greeting's nonce only if it used the offered plugin
        // (or, without PLUGIN_AUTH, native); otherwise it must be asked again.
        return this.checkResponse(response.authResponse)
      }
      if ((response.capabilities & CAP.PLUGIN_AUTH) === 0) {
        this.fatal(
          ER.ACCESS_DENIED,
          `Access denied for user '${response.user}': this pooler accepts ${auth.plugins.join(', ')}, which needs a client with plugin auth`
        )
        return
      }
      return this.switchPlugin(auth.plugins[0] ?? 'caching_sha2_password')
    }
    if (auth.method !== 'password') return
    if (this.authStep === 'switched') return this.checkResponse(p)
    if (this.authStep === 'full') {
      // caching_sha2_password full path: cleartext over TLS, or a request for the RSA key.
      if (p.length === 1 && p[0] === 0x02 && !this.secure()) {
        this.authStep = 'key'
        this.send(Buffer.concat([Buffer.from([0x01]), Buffer.from(this.shared.rsa.publicKey)]))
        return
      }
      if (this.secure()) {
        const end = p.indexOf(0)
        const given = p.subarray(0, end < 0 ? p.length : end).toString('utf8')
        return this.fullResult(samePassword(given, auth.password))
      }
      return this.keyResult(p)
    }
    if (this.authStep === 'key') return this.keyResult(p)
  }

  private keyResult(encrypted: Buffer): Promise<void> {
    if (this.shared.auth.method !== 'password') return Promise.resolve()
    const given = this.shared.rsa.decryptPassword(encrypted, this.nonce)
    return this.fullResult(given !== undefined && samePassword(given, this.shared.auth.password))
  }

  private async fullResult(ok: boolean): Promise<void> {
    if (!ok) return this.denied()
    this.shared.sha2Cache.add(this.user)
    return this.loggedIn()
  }

  private secure(): boolean {
    return this.socket instanceof tls.TLSSocket
  }

  private switchPlugin(plugin: AuthPlugin): void {
    this.plugin = plugin
    this.authStep = 'switched'
    this.send(
      Buffer.concat([
        Buffer.from([0xfe]),
        Buffer.from(plugin),
        Buffer.from([0]),
        this.nonce,
        Buffer.from([0]),
      ])
    )
  }

  private async checkResponse(reply: Buffer): Promise<void> {
    const auth = this.shared.auth
    if (auth.method !== 'password') return
    if (this.plugin === 'mysql_native_password') {
      if (checkScramble('mysql_native_password', auth.password, this.nonce, reply))
        return this.loggedIn()
      return this.denied()
    }
    // caching_sha2_password: fast path for users seen before, full path otherwise.
    if (this.shared.sha2Cache.has(this.user)) {
      if (checkScramble('caching_sha2_password', auth.password, this.nonce, reply)) {
        this.send(Buffer.from([0x01, 0x03]))
        return this.loggedIn()
      }
      return this.denied()
    }
    if (reply.length === 0 && auth.password === '') return this.loggedIn()
    this.authStep = 'full'
    this.send(Buffer.from([0x01, 0x04]))
  }

  private denied(): void {
    this.fatal(
      ER.ACCESS_DENIED,
      `Access denied for user '${this.user}'@'${this.socket.remoteAddress ?? 'localhost'}' (using password: YES)`
    )
  }

  private startTls(): void {
    if (!this.shared.tls) {
      this.fatal(ER.HANDSHAKE, 'Bad handshake: TLS is not configured on this pooler')
      return
    }
    this.flush() // nothing written in the clear may follow the switch
    const plain = this.socket
    plain.removeAllListeners('data')
    plain.removeAllListeners('close')
    plain.removeAllListeners('error')
    const early = this.reader.drain()
    if (early.length > 0) plain.unshift(early)
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.shared.tls })
    secure.on('error', () => this.gone())
    this.socket = secure
    this.listen(secure)
  }

  private async loggedIn(): Promise<void> {
    clearTimeout(this.startupTimer)
    const wanted = this.handshake?.database
    if (wanted !== undefined && wanted !== this.shared.database) {
      const conn = await this.acquire()
      if (!conn) {
        this.end()
        this.gone()
        return
      }
      const result = await conn.command(
        Buffer.concat([Buffer.from([COM.INIT_DB]), Buffer.from(wanted)]),
        'ok'
      )
      if (result.error) {
        this.forwardError(result.error)
        this.release()
        this.end()
        this.gone()
        return
      }
      conn.database = wanted
      this.database = wanted
      this.release()
    }
    this.stage = 'ready'
    this.send(okPacket(this.status))
  }

  // ---- leases -------------------------------------------------------------------------------

  /** The client's origin connection (leased now if needed); undefined after sending an ERR. */
  private async acquire(): Promise<MysqlOrigin | undefined> {
    if (this.lease && !this.lease.broken) return this.lease
    if (this.lease) {
      // It died between commands. If the client's transaction or session state lived there,
      // say so instead of carrying on silently on another connection.
      const held = this.holding()
      this.lostLease()
      if (held) {
        this.error(
          ER.ORIGIN_GONE,
          'Lost connection to the origin: the open transaction and session state are gone (rolled back)'
        )
        return undefined
      }
    }
    try {
      // An idle connection is taken without the pool's promise (the common case).
      this.lease = this.shared.pool.takeIdle() ?? (await this.shared.pool.acquire())
    } catch (error) {
      if (error instanceof PoolExhaustedError) this.error(ER.TOO_MANY, error.message)
      else
        this.error(
          ER.ORIGIN_DOWN,
          `wharf pool: cannot reach the origin: ${(error as Error).message}`
        )
      return undefined
    }
    if (this.stage === 'closed') {
      this.release()
      return undefined
    }
    const conn = this.lease
    if (conn.database !== this.database && !(await conn.useDatabase(this.database))) {
      this.error(ER.BAD_DB, `wharf pool: cannot select database '${this.database}' on the origin`)
      this.release()
      return undefined
    }
    return conn
  }

  /** The origin connection died under the client: its transaction and session state are gone. */
  private lostLease(): void {
    this.lease = undefined
    this.pinned = false
    this.lockedTables = false
    this.status = STATUS.AUTOCOMMIT
  }

  private holding(): boolean {
    return (
      (this.status & STATUS.IN_TRANS) !== 0 ||
      (this.status & STATUS.AUTOCOMMIT) === 0 ||
      this.pinned ||
      this.lockedTables
    )
  }

  /** After a command: give the connection back unless the client's state lives on it. */
  private settle(): void {
    if (!this.lease) return
    if (this.lease.broken) {
      this.lostLease()
      return
    }
    if (this.holding()) return
    this.release()
  }

  private release(): void {
    const conn = this.lease
    this.lease = undefined
    if (this.written === 'all' || this.written.size > 0) {
      this.shared.cache?.invalidate(this.written === 'all' ? 'all' : [...this.written])
      this.written = new Set()
    }
    if (conn) this.shared.pool.release(conn)
  }

  // ---- commands -----------------------------------------------------------------------------

  /** Runs `payload` on the lease and streams the response to the client. */
  private async run(
    conn: MysqlOrigin,
    payload: Buffer,
    kind: ResponseKind,
    capture?: { bytes: Buffer[]; size: number; limit: number },
    isFramed = false
  ): Promise<{ status: number; error?: ServerError } | undefined> {
    const onPacket = (packet: Buffer, raw: Buffer | undefined): void => {
      let ok = true
      if (raw !== undefined && raw[3] === this.seq) {
        // The origin numbered it as the client expects (both count from the command's seq id):
        // forwarded as received, without framing it again.
        this.seq = (this.seq + 1) & 0xff
        ok = this.write(raw)
        if (capture && capture.size <= capture.limit) {
          capture.bytes.push(raw)
          capture.size += raw.length
        }
      } else {
        const { bytes, next } = frame(packet, this.seq)
        this.seq = next
        for (const b of bytes) {
          ok = this.write(b) && ok
          if (capture && capture.size <= capture.limit) {
            capture.bytes.push(b)
            capture.size += b.length
          }
        }
      }
      if (!ok && !this.socket.destroyed && !this.draining) {
        // The client reads slower than the origin sends: stop reading the origin until it drains.
        this.draining = true
        conn.pause()
        this.socket.once('drain', () => {
          this.draining = false
          conn.resume()
        })
      }
    }
    try {
      return await (isFramed
        ? conn.commandFramed(payload, kind, onPacket)
        : conn.command(payload, kind, onPacket))
    } catch (error) {
      conn.resume()
      if (error instanceof OriginError || conn.broken) {
        this.lostLease()
        this.error(
          ER.ORIGIN_GONE,
          `Lost connection to the origin during query: ${(error as Error).message}`
        )
        return undefined
      }
      throw error
    }
  }

  private async onQuery(packet: Packet): Promise<void> {
    const text = packet.payload.subarray(1).toString('utf8')
    const analysis = sql.analyze(text)
    const stmts = analysis.stmts
    if (stmts.length > 1 && (this.capabilities & CAP.MULTI_STATEMENTS) === 0) {
      this.error(
        ER.PARSE,
        'You have an error in your SQL syntax: multi-statements are not enabled for this connection'
      )
      return
    }
    const refused = analysis.refusal
    if (refused) {
      this.refuse(refused)
      return
    }
    const kill = stmts.length === 1 ? sql.killTarget(stmts[0] ?? '') : undefined
    if (kill !== undefined) return this.onKill(kill)
    const use = sql.useTarget(text)
    if (use !== undefined) return this.onInitDb(use)

    const cache = this.shared.cache
    const inTransaction = this.lease !== undefined && this.holding()
    let request: MysqlCacheRequest | undefined
    let miss: CacheMiss | undefined
    if (cache && !inTransaction && packet.lastSeq === 0 && stmts.length === 1) {
      const info = analysis.read
      if (info?.cacheable === true) {
        request = { database: this.database, text, tables: info.tables }
        miss = await this.serveCached(cacheKey(request), request)
        if (!miss) return
      }
    }
    const conn = await this.acquire()
    if (!conn) return
    const effect = analysis.effect
    if (effect.pins) {
      this.pinned = true
      conn.dirty = true
    }
    if (effect.locksTables) {
      this.lockedTables = true
      conn.dirty = true
    }
    if (effect.unlocksTables) this.lockedTables = false
    const capture =
      request && cache ? { bytes: [], size: 0, limit: cache.options.maxEntryBytes } : undefined
    const result = await this.run(conn, packet.payload, 'query', capture)
    if (result) {
      this.status = result.status
      if (!result.error) this.noteWrites(analysis.writes)
      if (request && miss && capture && !result.error && capture.size <= capture.limit)
        this.store(request, miss, capture.bytes)
      if (result.error && stmts.length > 1) this.noteWrites(analysis.writes) // part may have run
    }
    this.settle()
  }

  /**
   * KILL names a connection id this pooler gave a client; at the origin that number is some other
   * connection (or none), so the statement never goes there as it is. The client with that id is
   * found, and its statement killed on the origin connection it runs on.
   */
  private async onKill(kill: { id: number; query: boolean } | 'other'): Promise<void> {
    if (kill === 'other') {
      this.refuse('KILL of anything but a connection id (KILL [CONNECTION|QUERY] id)')
      return
    }
    if (kill.id === this.connectionId) {
      // Its own statement is this KILL; its own connection ends, as MariaDB ends it.
      if (kill.query) this.send(okPacket(this.status))
      else this.fatal(ER.CONNECTION_KILLED, 'Connection was killed')
      return
    }
    if (!(await this.shared.kill(kill.id, kill.query))) {
      this.error(ER.NO_SUCH_THREAD, `Unknown thread id: ${kill.id}`)
      return
    }
    this.send(okPacket(this.status))
  }

  /**
   * Another client's `KILL` for this one: a statement running on the origin is killed there, and
   * KILL CONNECTION ends the client too (at once if a response was streaming, else with MariaDB's
   * error).
   */
  async killedBy(query: boolean): Promise<void> {
    const conn = this.lease
    if (this.busy && conn && !conn.broken) await this.shared.killOriginQuery(conn.connectionId)
    if (query || this.stage === 'closed') return
    if (this.busy) this.gone()
    else this.fatal(ER.CONNECTION_KILLED, 'Connection was killed')
  }

  private noteWrites(w: readonly string[] | 'all'): void {
    if (w === 'all') this.written = 'all'
    else if (this.written !== 'all') for (const t of w) this.written.add(t)
    if (w === 'all' || w.length > 0) this.shared.cache?.invalidate(w)
  }

  /**
   * Answers from the cache if it can (and refreshes a stale entry once). A memory miss asks the
   * shared store (Redis) before the origin. Undefined when answered; otherwise what storing the
   * origin's answer needs.
   */
  private async serveCached(
    key: string,
    request: MysqlCacheRequest
  ): Promise<CacheMiss | undefined> {
    const cache = this.shared.cache
    if (!cache) return { mark: 0, token: undefined }
    // Taken before anything is read: a write heard after it means the answer may predate it.
    // `fromMemory` looked in memory already when it handed the command on.
    const missed = this.missed
    this.missed = undefined
    const mark = missed?.key === key ? missed.mark : cache.mark()
    let hit = missed?.key === key ? undefined : cache.get(key)
    let token: StoreToken | undefined
    if (!hit && cache.store) {
      const lookup = await cache.store.get(key, request.tables)
      token = lookup.token
      const found = lookup.found
      if (
        found &&
        !cache.changedSince(request.tables, mark) &&
        cache.set(key, found.result, found.storedAt, true)
      )
        hit = cache.get(key)
    }
    if (!hit || this.stage === 'closed') return { mark, token }
    this.write(hit.result.rows)
    if (hit.shouldRefresh) this.shared.refresh(key, request)
    return undefined
  }

  /** Keeps the origin's answer unless a write to its tables was heard while it was read. */
  private store(request: MysqlCacheRequest, miss: CacheMiss, bytes: Buffer[]): void {
    const cache = this.shared.cache
    if (!cache || cache.changedSince(request.tables, miss.mark)) return
    cache.set(cacheKey(request), resultFrom(bytes, request.tables), Date.now(), false, miss.token)
  }

  private async onInitDb(database: string): Promise<void> {
    const conn = await this.acquire()
    if (!conn) return
    const result = await this.run(
      conn,
      Buffer.concat([Buffer.from([COM.INIT_DB]), Buffer.from(database)]),
      'ok'
    )
    if (result && !result.error) {
      this.database = database
      conn.database = database
      this.status = result.status
    }
    this.settle()
  }

  private async onResetConnection(): Promise<void> {
    if (this.lease) {
      this.lease.dirty = true
      this.pinned = false
      this.lockedTables = false
      this.status = STATUS.AUTOCOMMIT
      this.release()
    }
    this.statements.clear()
    this.send(okPacket(this.status))
    return Promise.resolve()
  }

  /** Prepares `text` on `conn` unless it has it; the response is swallowed. */
  private async ensurePrepared(
    conn: MysqlOrigin,
    text: string,
    forward: boolean,
    key = preparedKey(this.database, text)
  ): Promise<{ id: number; columns: number; params: number } | ServerError | undefined> {
    const have = conn.prepared.get(key)
    if (have && !forward) return have
    if (conn.prepared.size >= MAX_PREPARED_PER_ORIGIN) {
      // Close the oldest on the origin (COM_STMT_CLOSE has no response).
      const [oldKey, old] = conn.prepared.entries().next().value ?? []
      if (oldKey !== undefined && old) {
        conn.prepared.delete(oldKey)
        const close = Buffer.alloc(5)
        close[0] = COM.STMT_CLOSE
        close.writeUInt32LE(old.id, 1)
        await conn.command(close, 'none')
      }
    }
    const payload = Buffer.concat([Buffer.from([COM.STMT_PREPARE]), Buffer.from(text)])
    let result
    try {
      result = await conn.command(
        payload,
        'prepare',
        forward ? (p) => this.forwardPrepare(p) : undefined
      )
    } catch (error) {
      this.lostLease()
      this.error(
        ER.ORIGIN_GONE,
        `Lost connection to the origin during query: ${(error as Error).message}`
      )
      return undefined
    }
    if (result.error) return result.error
    const prepared = result.prepared
    if (!prepared) return undefined
    if (have && have.id !== prepared.id) {
      // Prepared again to get its metadata for another client: drop the duplicate.
      const close = Buffer.alloc(5)
      close[0] = COM.STMT_CLOSE
      close.writeUInt32LE(have.id, 1)
      await conn.command(close, 'none')
    }
    conn.prepared.set(key, prepared)
    return prepared
  }

  private pendingClientId = 0

  /** Forwards the prepare response with the client's statement id in place of the origin's. */
  private forwardPrepare(packet: Buffer): void {
    let out = packet
    if (this.pendingClientId !== 0 && packet[0] === 0x00 && packet.length >= 12) {
      out = Buffer.from(packet)
      out.writeUInt32LE(this.pendingClientId, 1)
      this.pendingClientId = 0
    }
    this.send(out)
  }

  private async onPrepare(text: string): Promise<void> {
    if (this.statements.size >= MAX_STATEMENTS_PER_CLIENT) {
      this.error(
        ER.NOT_SUPPORTED,
        `wharf pool: at most ${MAX_STATEMENTS_PER_CLIENT} prepared statements per client`
      )
      return
    }
    const analysis = sql.analyze(text)
    const refused = analysis.refusal
    if (refused) {
      this.refuse(refused)
      return
    }
    const conn = await this.acquire()
    if (!conn) return
    const id = this.nextStatementId++
    this.pendingClientId = id
    const result = await this.ensurePrepared(conn, text, true)
    this.pendingClientId = 0
    if (result && 'id' in result) {
      this.statements.set(id, {
        text,
        database: this.database,
        analysis,
        preparedKey: preparedKey(this.database, text),
        keyPrefix: executeKeyPrefix(this.database, text),
        params: result.params,
        columns: result.columns,
        types: undefined,
        longData: false,
      })
    } else if (result) this.forwardError(result)
    this.settle()
  }

  private async onExecute(packet: Packet): Promise<void> {
    const p = packet.payload
    const c = new Cursor(p)
    c.u8()
    const clientId = c.u32()
    const flags = c.u8()
    c.u32() // iteration count, always 1
    const st = this.statements.get(clientId)
    if (!st) {
      this.error(
        ER.UNKNOWN_STMT,
        `Unknown prepared statement handler (${clientId}) given to mysqld_stmt_execute`
      )
      return
    }
    if (st.longData) {
      this.refuse('COM_STMT_SEND_LONG_DATA (send the parameter in COM_STMT_EXECUTE)')
      return
    }
    if ((flags & CURSOR_FLAGS) !== 0) {
      this.refuse('cursors (COM_STMT_EXECUTE with a cursor type)')
      return
    }
    // Parameters: null bitmap, "new params bound" flag, types, values. The types are sent only
    // once per statement; another origin connection needs them every time, so they are re-sent.
    // The origin's command is built in one buffer; its id is written once the connection's
    // statement is known, and the bytes after it (`tail`) key the cache.
    let nullBitmap: Buffer | undefined
    let values: Buffer | undefined
    let size = 10 // command (1), statement id (4), flags (1), iteration count (4)
    if (st.params > 0) {
      nullBitmap = c.bytes((st.params + 7) >> 3)
      if (c.u8() === 1) st.types = Buffer.from(c.bytes(st.params * 2))
      if (!st.types) {
        this.error(ER.MALFORMED, 'Malformed communication packet: parameter types were never sent')
        return
      }
      values = c.bytes(c.left)
      size += nullBitmap.length + 1 + st.types.length + values.length
    }
    const isFramed = size < MAX_PACKET
    const command = isFramed ? commandPacket(size) : Buffer.allocUnsafe(size)
    const base = isFramed ? 4 : 0
    command[base] = COM.STMT_EXECUTE
    command[base + 5] = flags
    command.writeUInt32LE(1, base + 6)
    if (nullBitmap && values && st.types) {
      let at = base + 10
      at += nullBitmap.copy(command, at)
      command[at++] = 1
      at += st.types.copy(command, at)
      values.copy(command, at)
    }
    const tail = command.subarray(base + 5)

    const cache = this.shared.cache
    const inTransaction = this.lease !== undefined && this.holding()
    let request: MysqlCacheRequest | undefined
    let miss: CacheMiss | undefined
    const analysis = st.analysis
    if (cache && !inTransaction && packet.lastSeq === 0) {
      const info = analysis.read
      if (info?.cacheable === true) {
        request = { database: st.database, text: st.text, execute: tail, tables: info.tables }
        miss = await this.serveCached(cacheKey(request), request)
        if (!miss) return
      }
    }
    const conn = await this.acquire()
    if (!conn) return
    const prepared = await this.ensurePrepared(
      conn,
      st.text,
      false,
      this.database === st.database ? st.preparedKey : undefined
    )
    if (!prepared) {
      this.settle()
      return
    }
    if (!('id' in prepared)) {
      this.forwardError(prepared)
      this.settle()
      return
    }
    if (analysis.effect.pins) {
      this.pinned = true
      conn.dirty = true
    }
    command.writeUInt32LE(prepared.id, base + 1)
    const capture =
      request && cache ? { bytes: [], size: 0, limit: cache.options.maxEntryBytes } : undefined
    const result = await this.run(conn, command, 'execute', capture, isFramed)
    if (result) {
      this.status = result.status
      if (!result.error) this.noteWrites(analysis.writes)
      if (request && miss && capture && !result.error && capture.size <= capture.limit)
        this.store(request, miss, capture.bytes)
    }
    this.settle()
  }

  /** Runs a non-data command (e.g. COM_STATISTICS) on a lease. */
  private async forward(packet: Packet, kind: ResponseKind): Promise<void> {
    const conn = await this.acquire()
    if (!conn) return
    const result = await this.run(conn, packet.payload, kind)
    if (result) this.status = result.status
    this.settle()
  }

  // ---- teardown -----------------------------------------------------------------------------

  /** The client left (or was closed): its connection goes back clean, whatever it was doing. */
  private gone(): void {
    if (this.stage === 'closed') return
    this.stage = 'closed'
    clearTimeout(this.startupTimer)
    this.shared.sessions.delete(this)
    this.shared.stats.clients--
    const conn = this.lease
    if (conn && !conn.broken) {
      if (this.holding()) conn.dirty = true
      if (this.busy) {
        // A response is still streaming: the connection's state is unknown, so it is closed.
        this.lease = undefined
        conn.close()
      } else this.release()
    } else this.lease = undefined
    this.socket.destroy()
  }

  close(): void {
    this.end()
    this.gone()
  }
}

/** Where an origin connection keeps its statement for a schema and text (`MysqlOrigin.prepared`). */
export function preparedKey(database: string, text: string): string {
  return `${database}\0${text}`
}

export function cacheKey(request: MysqlCacheRequest): string {
  return request.execute
    ? executeKeyPrefix(request.database, request.text) + request.execute.toString('base64')
    : `mysql:q\0${request.database}\0${request.text}`
}

/** `cacheKey()` of a prepared statement's executes, up to the parameter bytes. */
function executeKeyPrefix(database: string, text: string): string {
  return `mysql:x\0${database}\0${text}\0`
}

const ONE = Buffer.from([1])

/** A captured response (framed, sequence ids from 1) as a cache entry. */
/** A cacheable request the cache could not answer: what storing its answer needs. */
interface CacheMiss {
  /** The cache's invalidation mark before the request was looked up. */
  readonly mark: number
  readonly token: StoreToken | undefined
}

export function resultFrom(bytes: Buffer[], tables: readonly string[]): CachedResult {
  return { description: undefined, rows: Buffer.concat(bytes), relations: tables }
}
