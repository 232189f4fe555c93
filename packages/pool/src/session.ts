/**
 * One client connection: startup (SSLRequest, auth), then transaction pooling. The client holds
 * an origin connection from its first message until ReadyForQuery says idle with nothing else in
 * flight, so Flush-without-Sync, pipelining, COPY and errors inside transactions all see one
 * server. Named prepared statements are shared across origin connections under internal names
 * and re-Parsed on a connection that lacks them.
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto'
import { debuglog } from 'node:util'
import type net from 'node:net'
import tls from 'node:tls'
import type { QueryCache, CachedResult } from './cache.js'
import * as m from './messages.js'
import type { OriginConnection } from './origin.js'
import type { OriginPool } from './origin-pool.js'
import { ScramServer, type ScramVerifier } from './scram.js'
import * as sql from './sql.js'
import {
  BodyReader,
  CANCEL_REQUEST_CODE,
  FrameReader,
  GSS_REQUEST_CODE,
  MessageWriter,
  ProtocolError,
  SSL_REQUEST_CODE,
  type Frame,
} from './wire.js'

export type ClientAuth =
  | { readonly method: 'trust' }
  | { readonly method: 'scram-sha-256'; readonly user: string; readonly verifier: ScramVerifier }
  | { readonly method: 'password'; readonly user: string; readonly password: string }

/** State shared by every session of one pooler. */
export interface Shared {
  readonly pool: OriginPool
  readonly cache: QueryCache | undefined
  readonly auth: ClientAuth
  readonly database: string
  readonly tls: tls.SecureContext | undefined
  readonly maxMessageBytes: number
  /** Bytes a client may send ahead while waiting for an origin connection. */
  readonly maxBacklogBytes: number
  readonly startupTimeoutMs: number
  readonly volatility: () => sql.Volatility
  /** Internal prepared-statement names by (text, types). */
  readonly statementNames: Map<string, string>
  readonly sessions: Map<string, Session>
  readonly stats: { clients: number; clientsTotal: number; refused: number; cacheServed: number }
  refresh(key: string, request: CacheRequest): void
  log(line: string): void
}

/** What a cacheable request was, to key it and to replay it for stale-while-revalidate. */
export interface CacheRequest {
  readonly key: string
  readonly simple: boolean
  readonly describe: boolean
  readonly parse: boolean
  readonly relations: readonly string[]
  /** Messages that re-run it on any origin connection (unnamed statement, ends with Sync). */
  readonly replay: Buffer
}

type ExpectKind =
  'parse' | 'bind' | 'close' | 'describeS' | 'describeP' | 'execute' | 'sync' | 'query' | 'function'

interface Expect {
  kind: ExpectKind
  /** Injected by the pooler: the client must not see the response. */
  swallow?: boolean
  /** Answered by the pooler itself, in order, without a server message. */
  synthetic?: Buffer
}

interface Statement {
  readonly text: string
  readonly types: readonly number[]
  readonly internal: string
}

const MAX_STATEMENTS_PER_CLIENT = 10_000
/** Frontend messages after startup (protocol 3.0). Anything else is a protocol violation. */
const CLIENT_MESSAGES = new Set(['Q', 'P', 'B', 'D', 'E', 'C', 'S', 'H', 'F', 'd', 'c', 'f', 'X'])
const MAX_PREPARED_PER_ORIGIN = 2_000
const FEATURE_NOT_SUPPORTED = '0A000'

let nextPid = 1
/** `NODE_DEBUG=wharf-pool`: every frame type in and out, per session (for protocol debugging). */
const trace = debuglog('wharf-pool')

export class Session {
  private readonly reader: FrameReader
  private stage: 'startup' | 'auth' | 'ready' | 'closed' = 'startup'
  private scram: ScramServer | undefined
  private lease: OriginConnection | undefined
  private acquiring = false
  private readonly backlog: Frame[] = []
  private backlogBytes = 0
  private readonly expects: Expect[] = []
  private txStatus: 'I' | 'T' | 'E' = 'I'
  private readonly statements = new Map<string, Statement>()
  private written: Set<string> | 'all' = new Set()
  private capture:
    | { request: CacheRequest; description?: Buffer; rows: Buffer[]; bytes: number; ok: boolean }
    | undefined
  private startupTimer: NodeJS.Timeout | undefined
  readonly pid = nextPid++ % 2 ** 31
  readonly secret = randomInt(1, 2 ** 31 - 1)
  private user = ''

  constructor(
    private socket: net.Socket,
    private readonly shared: Shared
  ) {
    this.reader = new FrameReader(shared.maxMessageBytes)
    shared.stats.clients++
    shared.stats.clientsTotal++
    this.startupTimer = setTimeout(
      () => this.fatal('08P01', 'startup timed out'),
      shared.startupTimeoutMs
    )
    this.listen(socket)
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => this.onClientGone())
    socket.on('close', () => this.onClientGone())
    socket.on('drain', () => this.lease?.resume())
  }

  // ---- input --------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.reader.push(chunk)
    try {
      if (this.stage === 'startup') {
        this.onStartup()
        if (this.stage === 'startup') return
      }
      const frames: Frame[] = []
      for (let f = this.reader.next(); f; f = this.reader.next()) frames.push(f)
      if (frames.length > 0) this.onFrames(frames)
    } catch (error) {
      if (error instanceof ProtocolError) this.fatal('08P01', error.message)
      else this.fatal('XX000', `wharf pool: ${(error as Error).message}`)
    }
  }

  private onStartup(): void {
    const packet = this.reader.nextStartup()
    if (!packet) return
    const r = new BodyReader(packet.subarray(4))
    const code = r.int32()
    if (code === SSL_REQUEST_CODE) {
      if (this.shared.tls && !(this.socket instanceof tls.TLSSocket)) {
        this.socket.removeAllListeners('data')
        this.socket.write('S')
        const secure = new tls.TLSSocket(this.socket, {
          isServer: true,
          secureContext: this.shared.tls,
        })
        this.socket.removeAllListeners('close')
        this.socket.removeAllListeners('error')
        this.socket = secure
        this.listen(secure)
      } else this.socket.write('N')
      return
    }
    if (code === GSS_REQUEST_CODE) {
      this.socket.write('N')
      this.onStartup()
      return
    }
    if (code === CANCEL_REQUEST_CODE) {
      const target = this.shared.sessions.get(`${r.int32()}:${r.int32()}`)
      target?.cancel()
      this.close()
      return
    }
    if (code >> 16 !== 3) {
      this.fatal('08P01', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`)
      return
    }
    const params = new Map<string, string>()
    const unknownOptions: string[] = []
    for (let i = 0; i < 64 && r.remaining > 1; i++) {
      const key = r.cstring()
      if (key === '') break
      const value = r.cstring()
      if (key.startsWith('_pq_.')) unknownOptions.push(key)
      else params.set(key, value)
    }
    this.user = params.get('user') ?? ''
    const database = params.get('database') ?? this.user
    if (database !== this.shared.database) {
      this.fatal(
        '3D000',
        `database "${database}" does not exist (this pooler serves "${this.shared.database}")`
      )
      return
    }
    if ((code & 0xffff) !== 0 || unknownOptions.length > 0) {
      // Newer minor versions and protocol options: say what we speak (3.0) instead of failing.
      const w = new MessageWriter().int32(3 << 16).int32(unknownOptions.length)
      for (const o of unknownOptions) w.cstring(o)
      this.socket.write(w.build('v'))
    }
    this.stage = 'auth'
    const auth = this.shared.auth
    if (auth.method === 'trust') this.authenticated()
    else if (this.user !== auth.user) {
      this.fatal('28P01', `password authentication failed for user "${this.user}"`)
    } else if (auth.method === 'password') this.socket.write(m.authCleartext())
    else {
      this.scram = new ScramServer(auth.verifier)
      this.socket.write(m.authSasl(['SCRAM-SHA-256']))
    }
  }

  private onAuthFrame(frame: Frame): void {
    if (frame.type !== 'p') {
      this.fatal('08P01', `expected a password message, got '${frame.type}'`)
      return
    }
    const auth = this.shared.auth
    const r = new BodyReader(frame.body)
    if (auth.method === 'password') {
      const given = Buffer.from(r.cstring())
      const expected = Buffer.from(auth.password)
      if (given.length === expected.length && timingSafeEqual(given, expected)) this.authenticated()
      else this.fatal('28P01', `password authentication failed for user "${this.user}"`)
      return
    }
    const scram = this.scram
    if (!scram) return
    try {
      if (r.remaining > 0 && frame.body.includes(Buffer.from('SCRAM-SHA-256\0'))) {
        r.cstring()
        const length = r.int32()
        const first = r.bytes(length).toString()
        this.socket.write(m.authSaslContinue(scram.first(first)))
      } else {
        const final = scram.final(r.rest().toString())
        this.socket.write(m.authSaslFinal(final))
        this.authenticated()
      }
    } catch {
      this.fatal('28P01', `password authentication failed for user "${this.user}"`)
    }
  }

  private authenticated(): void {
    clearTimeout(this.startupTimer)
    this.stage = 'ready'
    const out: Buffer[] = [m.authOk()]
    for (const [k, v] of this.shared.pool.parameters) out.push(m.parameterStatus(k, v))
    out.push(m.backendKeyData(this.pid, this.secret), m.readyForQuery('I'))
    this.socket.write(Buffer.concat(out))
    this.shared.sessions.set(`${this.pid}:${this.secret}`, this)
  }

  private onFrames(frames: Frame[]): void {
    if (this.stage === 'auth') {
      for (const f of frames) if (this.stage === 'auth') this.onAuthFrame(f)
      return
    }
    if (this.stage !== 'ready') return
    let i = 0
    // Without a connection, a whole cacheable request may be answered from the cache.
    while (i < frames.length && !this.lease && !this.acquiring && this.backlog.length === 0) {
      const used = this.tryLocal(frames, i)
      if (used === 0) break
      i += used
    }
    const conn = this.lease
    conn?.cork()
    try {
      for (; i < frames.length; i++) {
        const frame = frames[i]
        if (frame) this.onClientFrame(frame)
      }
    } finally {
      conn?.uncork()
    }
  }

  /**
   * Answers what needs no origin connection: a refused statement, a Terminate, or a cache hit.
   * Returns how many frames it consumed (0: none, go through a connection).
   */
  private tryLocal(frames: Frame[], start: number): number {
    const first = frames[start]
    if (!first) return 0
    if (first.type === 'X') {
      this.close()
      return frames.length - start
    }
    if (first.type === 'Q') {
      const text = new BodyReader(first.body).cstring()
      const blanked = sql.blank(text)
      const refused = sql.refusal(blanked)
      if (refused) {
        this.refuse(refused.what)
        return 1
      }
      const request = this.cacheableSimple(text, blanked)
      if (request && this.serveFromCache(request)) return 1
      if (request) this.capture = { request, rows: [], bytes: 0, ok: true }
      return 0
    }
    const batch = this.cacheableExtended(frames, start)
    if (batch && this.serveFromCache(batch.request)) return batch.length
    if (batch) this.capture = { request: batch.request, rows: [], bytes: 0, ok: true }
    return 0
  }

  private skipStoreOnce = false

  /**
   * A cacheable request missed the memory cache: ask the shared store (Redis) before taking an
   * origin connection. On a hit the result goes into memory and the waiting frames are handled
   * again, so the cache answers them. True when it took over.
   */
  private async tryStore(): Promise<boolean> {
    const cache = this.shared.cache
    const store = cache?.store
    const c = this.capture
    if (this.skipStoreOnce || !cache || !store || !c) {
      this.skipStoreOnce = false
      return false
    }
    const found = await store.get(c.request.key)
    if (!found || this.stage !== 'ready' || this.capture !== c || this.lease) return false
    if (!cache.set(c.request.key, found.result, found.storedAt, true)) return false
    const frames = this.backlog.splice(0)
    this.backlogBytes = 0
    this.capture = undefined
    this.acquiring = false
    // Whatever happens with these frames, the next acquire goes to the origin: no loop.
    this.skipStoreOnce = true
    try {
      this.onFrames(frames)
    } catch (error) {
      this.fatal(
        error instanceof ProtocolError ? '08P01' : 'XX000',
        `wharf pool: ${(error as Error).message}`
      )
    }
    this.skipStoreOnce = false
    return true
  }

  private refuse(what: string): void {
    this.shared.stats.refused++
    this.socket.write(
      Buffer.concat([
        m.errorResponse(
          FEATURE_NOT_SUPPORTED,
          `wharf pool: ${what} is not supported in transaction pooling mode`,
          {
            hint: 'Session features need a session: connect to the database directly for them (Hyperdrive refuses the same ones).',
          }
        ),
        m.readyForQuery(this.txStatus),
      ])
    )
  }

  // ---- the cache ----------------------------------------------------------------------------

  private cacheableSimple(text: string, blanked: string): CacheRequest | undefined {
    const cache = this.shared.cache
    if (!cache || this.txStatus !== 'I') return undefined
    const info = sql.readInfo(blanked, this.shared.volatility())
    if (!info.cacheable || info.relations === null) return undefined
    const key = createHash('sha256').update('Q\0').update(text).digest('base64')
    return {
      key,
      simple: true,
      describe: true,
      parse: false,
      relations: info.relations,
      replay: m.query(text),
    }
  }

  /** pg's unnamed `P B D E S` (or `B D E S` on a named statement): key and replay. */
  private cacheableExtended(
    frames: Frame[],
    start: number
  ): { request: CacheRequest; length: number } | undefined {
    const cache = this.shared.cache
    if (!cache || this.txStatus !== 'I') return undefined
    let i = start
    let text: string | undefined
    let types: readonly number[] = []
    let parse = false
    const f0 = frames[i]
    if (f0?.type === 'P') {
      const r = new BodyReader(f0.body)
      const name = r.cstring()
      text = r.cstring()
      const n = r.int16()
      const t: number[] = []
      for (let k = 0; k < n; k++) t.push(r.int32())
      types = t
      if (name !== '') return undefined
      parse = true
      i++
    }
    const bind = frames[i]
    if (bind?.type !== 'B') return undefined
    const br = new BodyReader(bind.body)
    const portal = br.cstring()
    const stmtName = br.cstring()
    if (portal !== '') return undefined
    if (stmtName !== '') {
      if (parse) return undefined
      const st = this.statements.get(stmtName)
      if (!st) return undefined
      text = st.text
      types = st.types
    } else if (!parse) return undefined
    i++
    let describe = false
    if (frames[i]?.type === 'D') {
      const d = frames[i]
      if (!d || d.body[0] !== 0x50) return undefined
      describe = true
      i++
    }
    const exec = frames[i]
    if (exec?.type !== 'E') return undefined
    const er = new BodyReader(exec.body)
    er.cstring()
    if (er.int32() !== 0) return undefined // row limits make partial results: not cached
    i++
    if (frames[i]?.type !== 'S') return undefined
    i++
    if (text === undefined) return undefined
    const info = sql.readInfo(sql.blank(text), this.shared.volatility())
    if (!info.cacheable || info.relations === null) return undefined
    // The Bind after its statement name: parameter formats, values and result formats.
    const bindRest = bind.body.subarray(Buffer.byteLength(portal) + Buffer.byteLength(stmtName) + 2)
    const key = createHash('sha256')
      .update(`E\0${describe ? 'D' : '-'}\0${text}\0${types.join(',')}\0`)
      .update(bindRest)
      .digest('base64')
    const replayBind = new MessageWriter().cstring('').cstring('').bytes(bindRest).build('B')
    const replay = Buffer.concat([
      m.parse('', text, types),
      replayBind,
      new MessageWriter().byte(0x50).cstring('').build('D'),
      new MessageWriter().cstring('').int32(0).build('E'),
      m.sync(),
    ])
    return {
      request: { key, simple: false, describe, parse, relations: info.relations, replay },
      length: i - start,
    }
  }

  private serveFromCache(request: CacheRequest): boolean {
    const hit = this.shared.cache?.get(request.key)
    if (!hit) return false
    const { result } = hit
    if (request.describe && !result.description) return false
    const out: Buffer[] = []
    if (!request.simple) {
      if (request.parse) out.push(new MessageWriter().build('1'))
      out.push(new MessageWriter().build('2'))
    }
    if (request.describe && result.description) out.push(result.description)
    out.push(result.rows, m.readyForQuery('I'))
    this.socket.write(Buffer.concat(out))
    this.shared.stats.cacheServed++
    if (hit.shouldRefresh) this.shared.refresh(request.key, request)
    return true
  }

  private captureFrame(frame: Frame): void {
    const c = this.capture
    if (!c?.ok) return
    switch (frame.type) {
      case 'T':
        c.description = frame.raw
        return
      case 'D':
      case 'C':
        c.rows.push(frame.raw)
        c.bytes += frame.raw.length
        if (c.bytes > (this.shared.cache?.options.maxEntryBytes ?? 0)) c.ok = false
        return
      case '1':
      case '2':
      case 'Z':
      case 'N':
      case 'S':
        return
      default:
        c.ok = false
    }
  }

  private finishCapture(): void {
    const c = this.capture
    this.capture = undefined
    if (!c?.ok || this.txStatus !== 'I' || c.rows.length === 0) return
    const result: CachedResult = {
      description: c.description,
      rows: Buffer.concat(c.rows),
      relations: c.request.relations,
    }
    this.shared.cache?.set(c.request.key, result)
  }

  // ---- through an origin connection ---------------------------------------------------------

  private onClientFrame(frame: Frame): void {
    if (!CLIENT_MESSAGES.has(frame.type)) {
      throw new ProtocolError(`unexpected message '${frame.type}' from the client`)
    }
    if (!this.lease) {
      this.backlog.push(frame)
      this.backlogBytes += frame.raw.length
      if (this.backlogBytes > this.shared.maxBacklogBytes) {
        this.fatal('54000', 'wharf pool: too much data sent ahead while waiting for a connection')
        return
      }
      if (!this.acquiring) void this.acquire()
      return
    }
    this.forward(frame)
  }

  private async acquire(): Promise<void> {
    this.acquiring = true
    if (await this.tryStore()) return
    let conn: OriginConnection
    try {
      conn = await this.shared.pool.acquire()
    } catch (error) {
      this.acquiring = false
      this.capture = undefined
      const code = (error as { code?: string }).code === 'ERR_POOL_EXHAUSTED' ? '53300' : '58000'
      // The whole backlog fails; answer as the server would: an error, then ReadyForQuery.
      this.backlog.length = 0
      this.backlogBytes = 0
      if (this.stage === 'ready') {
        this.socket.write(
          Buffer.concat([
            m.errorResponse(code, (error as Error).message),
            m.readyForQuery(this.txStatus),
          ])
        )
      }
      return
    }
    this.acquiring = false
    if (this.stage !== 'ready') {
      this.shared.pool.release(conn)
      return
    }
    this.lease = conn
    this.written = new Set()
    conn.onFrame = (f) => this.onOriginFrame(f)
    conn.onLeaseLost = (error) => this.onOriginLost(error)
    const frames = this.backlog.splice(0)
    this.backlogBytes = 0
    conn.cork()
    try {
      for (const f of frames) this.forward(f)
    } catch (error) {
      this.fatal(
        error instanceof ProtocolError ? '08P01' : 'XX000',
        `wharf pool: ${(error as Error).message}`
      )
    } finally {
      conn.uncork()
    }
  }

  private forward(frame: Frame): void {
    const conn = this.lease
    if (!conn) return
    // The arguments cost more than the forwarding: build them only when tracing is on.
    if (trace.enabled)
      trace(
        's%d -> origin %d: %s %s',
        this.pid,
        conn.id,
        frame.type,
        frame.type === 'P' || frame.type === 'B' || frame.type === 'D'
          ? JSON.stringify(frame.body.subarray(0, 40).toString('latin1'))
          : ''
      )
    // After an error the pooler answered itself, the server would skip to Sync: so do we.
    if (this.skipToSync && frame.type !== 'S' && frame.type !== 'H' && frame.type !== 'X') return
    switch (frame.type) {
      case 'Q': {
        const text = new BodyReader(frame.body).cstring()
        const blanked = sql.blank(text)
        const refused = sql.refusal(blanked)
        if (refused) {
          this.pushSynthetic(
            'query',
            Buffer.concat([
              m.errorResponse(
                FEATURE_NOT_SUPPORTED,
                `wharf pool: ${refused.what} is not supported in transaction pooling mode`
              ),
              m.readyForQuery(this.txStatus),
            ])
          )
          return
        }
        this.noteStatement(blanked)
        this.expects.push({ kind: 'query' })
        conn.write(frame.raw)
        return
      }
      case 'P': {
        const r = new BodyReader(frame.body)
        const name = r.cstring()
        const text = r.cstring()
        const n = r.int16()
        if (n < 0 || n > 65535) throw new ProtocolError('bad parameter count in Parse')
        const types: number[] = []
        for (let k = 0; k < n; k++) types.push(r.int32())
        const blanked = sql.blank(text)
        const refused = sql.refusal(blanked)
        if (refused) {
          // Fails like a server error: the rest up to Sync is skipped by the client's protocol.
          this.pushSynthetic(
            'parse',
            m.errorResponse(
              FEATURE_NOT_SUPPORTED,
              `wharf pool: ${refused.what} is not supported in transaction pooling mode`
            )
          )
          this.skipToSync = true
          return
        }
        this.noteStatement(blanked)
        if (name === '') {
          this.expects.push({ kind: 'parse' })
          conn.write(frame.raw)
          return
        }
        if (this.statements.size >= MAX_STATEMENTS_PER_CLIENT && !this.statements.has(name)) {
          throw new ProtocolError(`more than ${MAX_STATEMENTS_PER_CLIENT} prepared statements`)
        }
        const internal = this.internalName(text, types)
        this.statements.set(name, { text, types, internal })
        if (conn.prepared.has(internal)) {
          this.pushSynthetic('parse', new MessageWriter().build('1'))
          return
        }
        this.preparedOn(conn, internal)
        this.expects.push({ kind: 'parse' })
        conn.write(m.parse(internal, text, types))
        return
      }
      case 'B': {
        const r = new BodyReader(frame.body)
        const portal = r.cstring()
        const stmtName = r.cstring()
        const st = stmtName === '' ? undefined : this.statements.get(stmtName)
        if (!st) {
          this.expects.push({ kind: 'bind' })
          conn.write(frame.raw)
          return
        }
        // The injected Parse goes (and is answered) first: its expectation comes first too.
        this.ensurePrepared(conn, st)
        this.expects.push({ kind: 'bind' })
        const rest = frame.body.subarray(
          Buffer.byteLength(portal) + Buffer.byteLength(stmtName) + 2
        )
        conn.write(new MessageWriter().cstring(portal).cstring(st.internal).bytes(rest).build('B'))
        return
      }
      case 'D': {
        const kind = frame.body[0]
        const name = new BodyReader(frame.body.subarray(1)).cstring()
        if (kind === 0x53) {
          const st = name === '' ? undefined : this.statements.get(name)
          if (st) {
            this.ensurePrepared(conn, st)
            this.expects.push({ kind: 'describeS' })
            conn.write(new MessageWriter().byte(0x53).cstring(st.internal).build('D'))
            return
          }
          this.expects.push({ kind: 'describeS' })
        } else this.expects.push({ kind: 'describeP' })
        conn.write(frame.raw)
        return
      }
      case 'C': {
        const kind = frame.body[0]
        const name = new BodyReader(frame.body.subarray(1)).cstring()
        this.expects.push({ kind: 'close' })
        if (kind === 0x53 && name !== '') {
          // The origin statement is shared: close the client's name only. Closing a name that
          // does not exist is not an error, so the origin still answers CloseComplete in order.
          this.statements.delete(name)
          conn.write(new MessageWriter().byte(0x53).cstring('wharf_none').build('C'))
          return
        }
        conn.write(frame.raw)
        return
      }
      case 'E':
        this.expects.push({ kind: 'execute' })
        conn.write(frame.raw)
        return
      case 'S':
        this.skipToSync = false
        this.expects.push({ kind: 'sync' })
        conn.write(frame.raw)
        return
      case 'H':
        conn.write(frame.raw)
        return
      case 'F':
        this.written = 'all'
        this.shared.cache?.invalidate('all')
        this.expects.push({ kind: 'function' })
        conn.write(frame.raw)
        return
      case 'd':
      case 'c':
      case 'f':
        conn.write(frame.raw)
        return
      case 'X':
        this.close()
        return
      default:
        throw new ProtocolError(`unexpected message '${frame.type}' from the client`)
    }
  }

  private skipToSync = false
  private corked = false

  /**
   * The frames of one origin read go to the client in one send: the socket is corked at the
   * first and uncorked on the next tick, after the whole read was handled.
   */
  private readonly uncorkClient = (): void => {
    if (this.corked) {
      this.corked = false
      this.socket.uncork()
    }
  }

  private internalName(text: string, types: readonly number[]): string {
    const key = `${types.join(',')}\0${text}`
    let name = this.shared.statementNames.get(key)
    if (!name) {
      name = `wharf_${this.shared.statementNames.size + 1}`
      if (this.shared.statementNames.size < 100_000) this.shared.statementNames.set(key, name)
    }
    return name
  }

  private preparedOn(conn: OriginConnection, internal: string): void {
    conn.prepared.set(internal, true)
    // Too many on one origin connection: DEALLOCATE ALL when it is next returned.
    if (conn.prepared.size > MAX_PREPARED_PER_ORIGIN) conn.dirty = true
  }

  /** The origin connection lacks the statement: prepare it first, invisibly to the client. */
  private ensurePrepared(conn: OriginConnection, st: Statement): void {
    if (conn.prepared.has(st.internal)) return
    this.preparedOn(conn, st.internal)
    this.expects.push({ kind: 'parse', swallow: true })
    conn.write(m.parse(st.internal, st.text, st.types))
  }

  private pushSynthetic(kind: ExpectKind, response: Buffer): void {
    this.expects.push({ kind, synthetic: response })
    this.flushSynthetic()
  }

  private flushSynthetic(): void {
    for (let head = this.expects[0]; head?.synthetic; head = this.expects[0]) {
      this.expects.shift()
      this.socket.write(head.synthetic)
    }
  }

  /** SET marks the connection for reset; writes drop cached results of the written tables. */
  private noteStatement(blanked: string): void {
    if (this.lease && sql.changesSession(blanked)) this.lease.dirty = true
    const cache = this.shared.cache
    if (!cache) return
    const w = sql.writes(blanked, this.shared.volatility())
    if (w === 'all') this.written = 'all'
    else if (this.written !== 'all') for (const t of w) this.written.add(t)
    if (w === 'all' || w.length > 0) cache.invalidate(w)
  }

  private toClient(data: Buffer): void {
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(this.uncorkClient)
    }
    if (!this.socket.write(data)) this.lease?.pause()
  }

  private onOriginFrame(frame: Frame): void {
    if (trace.enabled)
      trace(
        's%d <- origin: %s expects=%s',
        this.pid,
        frame.type,
        this.expects
          .map((e) => e.kind + (e.swallow ? '!' : '') + (e.synthetic ? '*' : ''))
          .join(',')
      )
    if (this.capture) this.captureFrame(frame)
    const type = frame.type
    if (type === 'N' || type === 'A' || type === 'S') {
      this.toClient(frame.raw)
      return
    }
    this.flushSynthetic()
    const head = this.expects[0]
    if (!head) {
      // Nothing was asked (e.g. a FATAL before shutdown): pass it on.
      this.toClient(frame.raw)
      return
    }
    if (type === 'E') {
      this.toClient(frame.raw)
      if (head.kind === 'query' || head.kind === 'function') return
      // Extended protocol: the server now skips everything up to the next Sync.
      while (this.expects.length > 0 && this.expects[0]?.kind !== 'sync') this.expects.shift()
      return
    }
    if (type === 'Z') {
      while (this.expects.length > 0) {
        const k = this.expects.shift()?.kind
        if (k === 'sync' || k === 'query' || k === 'function') break
      }
      this.txStatus = String.fromCharCode(frame.body[0] ?? 0x49) as 'I' | 'T' | 'E'
      this.toClient(frame.raw)
      this.flushSynthetic()
      if (this.capture) this.finishCapture()
      this.maybeRelease()
      return
    }
    if (!head.swallow) this.toClient(frame.raw)
    let done = false
    switch (head.kind) {
      case 'parse':
        done = type === '1'
        break
      case 'bind':
        done = type === '2'
        break
      case 'close':
        done = type === '3'
        break
      case 'describeS':
        if (type === 't') head.kind = 'describeP'
        break
      case 'describeP':
        done = type === 'T' || type === 'n'
        break
      case 'execute':
        done = type === 'C' || type === 'I' || type === 's'
        break
      default:
        break
    }
    if (done) {
      this.expects.shift()
      this.flushSynthetic()
    }
  }

  /** Idle, nothing in flight, nothing waiting: the connection goes back to the pool. */
  private maybeRelease(): void {
    const conn = this.lease
    if (!conn || this.txStatus !== 'I' || this.expects.length > 0 || this.backlog.length > 0) return
    this.lease = undefined
    conn.onLeaseLost = undefined
    // A write inside a transaction: its readers may have cached old rows meanwhile. Drop again.
    if (this.written === 'all' || this.written.size > 0) {
      this.shared.cache?.invalidate(this.written === 'all' ? 'all' : [...this.written])
    }
    this.written = new Set()
    this.shared.pool.release(conn)
  }

  private onOriginLost(error: Error | undefined): void {
    this.lease = undefined
    this.expects.length = 0
    this.capture = undefined
    this.fatal(
      '08006',
      `wharf pool: the origin connection was lost${error ? `: ${error.message}` : ''}`
    )
  }

  /** CancelRequest for this client: forwarded only while it holds a connection. */
  cancel(): void {
    const conn = this.lease
    if (conn) this.shared.pool.cancel(conn)
  }

  private onClientGone(): void {
    if (this.stage === 'closed') return
    this.stage = 'closed'
    this.cleanup()
  }

  private cleanup(): void {
    clearTimeout(this.startupTimer)
    this.shared.sessions.delete(`${this.pid}:${this.secret}`)
    this.shared.stats.clients--
    const conn = this.lease
    this.lease = undefined
    if (!conn) return
    conn.onLeaseLost = undefined
    if (this.expects.length === 0 && this.txStatus === 'I') this.shared.pool.release(conn)
    else if (this.expects.length === 0) this.shared.pool.rollbackAndRelease(conn)
    // Mid-protocol: the only safe thing is to drop the connection (the origin rolls back).
    else this.shared.pool.discard(conn)
  }

  private fatal(code: string, message: string): void {
    if (this.stage === 'closed') return
    if (this.socket.writable)
      this.socket.write(m.errorResponse(code, message, { severity: 'FATAL' }))
    this.close()
  }

  close(): void {
    if (this.stage === 'closed') return
    this.stage = 'closed'
    this.socket.end()
    this.socket.destroySoon()
    this.cleanup()
  }
}
