/**
 * One PostgreSQL client connection, tying the parts together: start-up and authentication
 * (startup.ts), then transaction pooling. The client holds an origin connection (lease.ts) from
 * its first message until ReadyForQuery says idle with nothing else in flight, so
 * Flush-without-Sync, pipelining, COPY and errors inside transactions all see one server.
 * Requests are rewritten for shared prepared statements (statements.ts), answered from the cache
 * when they can be (cache-front.ts), and the origin's replies are routed by the queue of
 * expected replies (replies.ts).
 */
import { randomInt } from 'node:crypto'
import { debuglog } from 'node:util'
import type net from 'node:net'
import tls from 'node:tls'
import type { QueryCache } from '../core/cache.js'
import { ProtocolError, SQLSTATE, type PoolError } from '../errors.js'
import type { StatementAnalysis } from './analysis.js'
import { CacheFront, type CacheRequest } from './cache-front.js'
import { writeEffects, type CatalogSnapshot } from './catalog.js'
import { blanked, decodeClient, type ClientMessage } from './frontend.js'
import { Lease } from './lease.js'
import type { PgPool } from './origin-driver.js'
import * as m from './protocol.js'
import { ReplyQueue } from './replies.js'
import * as sql from './sql.js'
import { ClientStartup, type ClientAuth } from './startup.js'
import { StatementRewriter } from './statements.js'
import { FrameReader, type Frame } from './wire.js'

export type { ClientAuth } from './startup.js'
export type { CacheRequest } from './cache-front.js'

/** State shared by every session of one pooler. */
export interface Shared {
  readonly pool: PgPool
  readonly cache: QueryCache | undefined
  readonly auth: ClientAuth
  readonly database: string
  readonly tls: tls.SecureContext | undefined
  readonly maxMessageBytes: number
  /** Bytes a client may send ahead while waiting for an origin connection. */
  readonly maxBacklogBytes: number
  readonly startupTimeoutMs: number
  /** Statement texts read once per pooler (refusals, cacheable reads, cache keys). */
  readonly analysis: StatementAnalysis
  /** The origin's catalog snapshot, for what reads depend on and writes reach. */
  readonly catalog: () => CatalogSnapshot
  /** DDL went through and committed: take a new catalog snapshot. */
  catalogChanged(): void
  /** Server parameters clients are told at start-up (the origin's). */
  readonly parameters: () => ReadonlyMap<string, string>
  /** Internal prepared-statement names by (text, types). */
  readonly statementNames: Map<string, string>
  readonly sessions: Map<string, Session>
  /** The backend-key process id of the `counter`th session (a group's carries its index). */
  newPid(counter: number): number
  /** A CancelRequest: to the session it names, in this process or another of the group. */
  cancel(pid: number, secret: number): void
  readonly stats: { clients: number; clientsTotal: number; refused: number; cacheServed: number }
  refresh(key: string, request: CacheRequest): void
  log(line: string): void
}

const HINT =
  'Session features need a session: connect to the database directly for them (Hyperdrive refuses the same ones).'
/** Refusals by feature: a small fixed set (sql.refusal), so each message is built once. */
const refusals = new Map<string, { simple: Buffer; extended: Buffer }>()
function refusal(what: string): { simple: Buffer; extended: Buffer } {
  let r = refusals.get(what)
  if (!r) {
    const message = `wharf pool: ${what} is not supported in transaction pooling mode`
    r = {
      simple: m.errorResponse(SQLSTATE.featureNotSupported, message, { hint: HINT }),
      extended: m.errorResponse(SQLSTATE.featureNotSupported, message),
    }
    if (refusals.size < 100) refusals.set(what, r)
  }
  return r
}

/**
 * AuthenticationOk and the server's parameters, built once per parameter set: the first origin
 * connection's, which is filled at its start-up and not changed after (the size is checked too).
 */
const greetings = new WeakMap<ReadonlyMap<string, string>, { size: number; bytes: Buffer }>()
function greeting(parameters: ReadonlyMap<string, string>): Buffer {
  const known = greetings.get(parameters)
  if (known?.size === parameters.size) return known.bytes
  const out: Buffer[] = [m.AUTH_OK]
  for (const [k, v] of parameters) out.push(m.parameterStatus(k, v))
  const bytes = Buffer.concat(out)
  greetings.set(parameters, { size: parameters.size, bytes })
  return bytes
}

let nextPid = 1
/** `NODE_DEBUG=wharf-pool`: every frame type in and out, per session (for protocol debugging). */
const trace = debuglog('wharf-pool')

export class Session {
  private readonly reader: FrameReader
  private stage: 'startup' | 'auth' | 'ready' | 'closed' = 'startup'
  private readonly startup: ClientStartup
  private readonly lease: Lease
  private readonly backlog: ClientMessage[] = []
  private backlogBytes = 0
  private readonly replies: ReplyQueue
  private readonly statements: StatementRewriter
  private readonly cacheFront: CacheFront | undefined
  private txStatus: 'I' | 'T' | 'E' = 'I'
  private startupTimer: NodeJS.Timeout | undefined
  /** After an error the pooler answered itself, the server would skip to Sync: so do we. */
  private skipToSync = false
  /** Replies on their way to the client (see `toClient`): the last piece, and those before it. */
  private outLast: Buffer | undefined
  private outBefore: Buffer[] | undefined
  private skipStoreOnce = false
  readonly pid: number
  readonly secret = randomInt(1, 2 ** 31 - 1)

  constructor(
    private socket: net.Socket,
    private readonly shared: Shared
  ) {
    this.pid = shared.newPid(nextPid++)
    this.reader = new FrameReader(shared.maxMessageBytes)
    this.replies = new ReplyQueue((data) => this.toClient(data))
    this.statements = new StatementRewriter(shared.statementNames, this.replies)
    this.lease = new Lease(shared.pool, shared.cache)
    this.cacheFront =
      shared.cache &&
      new CacheFront(
        shared.cache,
        shared.analysis,
        this.statements,
        (key, request) => shared.refresh(key, request),
        () => shared.stats.cacheServed++
      )
    this.startup = new ClientStartup(shared.auth, shared.database, {
      write: (data) => this.send(data),
      upgradeToTls: () => this.upgradeToTls(),
      canTls: () => this.shared.tls !== undefined && !(this.socket instanceof tls.TLSSocket),
      fatal: (code, message) => this.fatal(code, message),
      cancel: (pid, secret) => {
        this.shared.cancel(pid, secret)
        this.close()
      },
      authenticated: () => this.authenticated(),
    })
    shared.stats.clients++
    shared.stats.clientsTotal++
    this.startupTimer = setTimeout(
      () => this.fatal(SQLSTATE.protocolViolation, 'startup timed out'),
      shared.startupTimeoutMs
    )
    this.listen(socket)
  }

  private listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => this.onClientGone())
    socket.on('close', () => this.onClientGone())
    socket.on('drain', () => this.lease.conn?.resume())
  }

  private upgradeToTls(): void {
    const plain = this.socket
    plain.removeAllListeners('data')
    plain.removeAllListeners('close')
    plain.removeAllListeners('error')
    plain.pause()
    // A ClientHello sent right behind the SSLRequest is already in the reader: hand it back to
    // the socket, and TLS reads it from there (Node feeds a wrapped socket's buffer to TLS).
    const early = this.reader.takePending()
    if (early.length > 0) plain.unshift(early)
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.shared.tls })
    this.socket = secure
    this.listen(secure)
  }

  // ---- input --------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.reader.push(chunk)
    try {
      while (this.stage === 'startup') {
        const packet = this.reader.nextStartup()
        if (!packet) return
        this.startup.onPacket(packet)
        if (this.startup.authenticating && this.stage === 'startup') this.stage = 'auth'
        // After 'S' the rest of this read belongs to TLS.
        if (this.socket instanceof tls.TLSSocket && this.reader.pending === 0) return
      }
      const frames: Frame[] = []
      for (let f = this.reader.next(); f; f = this.reader.next()) frames.push(f)
      if (frames.length > 0) this.onFrames(frames)
    } catch (error) {
      this.failWith(error)
    }
  }

  private failWith(error: unknown): void {
    if (error instanceof ProtocolError) this.fatal(SQLSTATE.protocolViolation, error.message)
    else this.fatal(SQLSTATE.internalError, `wharf pool: ${(error as Error).message}`)
  }

  private authenticated(): void {
    clearTimeout(this.startupTimer)
    this.stage = 'ready'
    this.send(
      Buffer.concat([
        greeting(this.shared.parameters()),
        m.backendKeyData(this.pid, this.secret),
        m.READY.I,
      ])
    )
    this.shared.sessions.set(`${this.pid}:${this.secret}`, this)
  }

  private onFrames(frames: Frame[]): void {
    if (this.stage === 'auth') {
      for (const f of frames) if (this.stage === 'auth') this.startup.onFrame(f)
      return
    }
    if (this.stage !== 'ready') return
    this.onMessages(frames.map(decodeClient))
  }

  private onMessages(messages: ClientMessage[]): void {
    let i = 0
    // Without a connection, a whole cacheable request may be answered from the cache.
    while (
      i < messages.length &&
      !this.lease.conn &&
      !this.lease.acquiring &&
      this.backlog.length === 0
    ) {
      const used = this.tryLocal(messages, i)
      if (used === 0) break
      i += used
    }
    if (i < messages.length) this.takeIdle()
    const conn = this.lease.conn
    // Corked only for several messages (P B D E S): one (a simple Query) is one write anyway.
    const cork = conn !== undefined && messages.length - i > 1
    if (cork) conn.cork()
    try {
      for (; i < messages.length; i++) {
        const msg = messages[i]
        if (msg) this.onClientMessage(msg)
      }
    } finally {
      if (cork) conn.uncork()
    }
  }

  /**
   * Answers what needs no origin connection: a refused statement, a Terminate, or a cache hit.
   * Returns how many messages it consumed (0: none, go through a connection).
   */
  private tryLocal(messages: ClientMessage[], start: number): number {
    const first = messages[start]
    if (!first) return 0
    if (first.type === 'X') {
      this.close()
      return messages.length - start
    }
    if (first.type === 'Q') {
      const refused = this.shared.analysis.query(first.text).refusal
      if (refused) {
        this.shared.stats.refused++
        this.send(Buffer.concat([refusal(refused.what).simple, m.READY[this.txStatus]]))
        return 1
      }
    }
    const front = this.cacheFront
    if (!front || this.txStatus !== 'I') return 0
    const found = front.recognise(messages, start)
    if (!found) return 0
    if (front.serve(found.request, this.sendBound)) return found.length
    front.begin(found.request)
    return 0
  }

  /**
   * A cacheable request missed the memory cache: ask the shared store (Redis) before taking an
   * origin connection. On a hit the waiting messages are handled again, so the cache answers
   * them. True when it took over.
   */
  private async tryStore(): Promise<boolean> {
    const front = this.cacheFront
    if (this.skipStoreOnce || !front?.pending) {
      this.skipStoreOnce = false
      return false
    }
    if (!(await front.fromStore(() => this.stage === 'ready' && !this.lease.conn))) return false
    const messages = this.backlog.splice(0)
    this.backlogBytes = 0
    this.lease.acquiring = false
    // Whatever happens with these messages, the next acquire goes to the origin: no loop.
    this.skipStoreOnce = true
    try {
      this.onMessages(messages)
    } catch (error) {
      this.failWith(error)
    }
    this.skipStoreOnce = false
    return true
  }

  // ---- through an origin connection ---------------------------------------------------------

  private onClientMessage(msg: ClientMessage): void {
    if (!this.lease.conn) {
      this.backlog.push(msg)
      this.backlogBytes += msg.frame.raw.length
      if (this.backlogBytes > this.shared.maxBacklogBytes) {
        this.fatal(
          SQLSTATE.programLimitExceeded,
          'wharf pool: too much data sent ahead while waiting for a connection'
        )
        return
      }
      if (!this.lease.acquiring) void this.acquire()
      return
    }
    this.forward(msg)
  }

  /**
   * The common case without a wait: an idle origin connection is taken at once, so the request
   * goes out in this tick, with no promise in between. Not while the shared store is to be asked
   * first (`tryStore`).
   */
  private takeIdle(): void {
    if (this.lease.conn || this.lease.acquiring || this.backlog.length > 0) return
    if (this.cacheFront?.pending && this.shared.cache?.store && !this.skipStoreOnce) return
    this.lease.takeIdle(
      (f) => this.onOriginFrame(f),
      (error) => this.onOriginLost(error)
    )
  }

  private async acquire(): Promise<void> {
    this.lease.acquiring = true
    if (await this.tryStore()) return
    try {
      const conn = await this.lease.acquire(
        (f) => this.onOriginFrame(f),
        (error) => this.onOriginLost(error),
        () => this.stage === 'ready'
      )
      if (!conn) return
      const messages = this.backlog.splice(0)
      this.backlogBytes = 0
      conn.cork()
      try {
        for (const msg of messages) this.forward(msg)
      } catch (error) {
        this.failWith(error)
      } finally {
        conn.uncork()
      }
    } catch (error) {
      this.cacheFront?.drop()
      const code =
        (error as PoolError).code === 'ERR_POOL_EXHAUSTED'
          ? SQLSTATE.tooManyConnections
          : SQLSTATE.systemError
      // The whole backlog fails; answer as the server would: an error, then ReadyForQuery.
      this.backlog.length = 0
      this.backlogBytes = 0
      if (this.stage === 'ready') {
        this.send(
          Buffer.concat([m.errorResponse(code, (error as Error).message), m.READY[this.txStatus]])
        )
      }
    }
  }

  private forward(msg: ClientMessage): void {
    const conn = this.lease.conn
    if (!conn) return
    // The arguments cost more than the forwarding: build them only when tracing is on.
    if (trace.enabled)
      trace(
        's%d -> origin %d: %s %s',
        this.pid,
        conn.id,
        msg.type,
        msg.type === 'P' || msg.type === 'B' || msg.type === 'D'
          ? JSON.stringify(msg.frame.body.subarray(0, 40).toString('latin1'))
          : ''
      )
    if (this.skipToSync && msg.type !== 'S' && msg.type !== 'H' && msg.type !== 'X') return
    switch (msg.type) {
      case 'Q': {
        const facts = this.shared.analysis.query(msg.text)
        const refused = facts.refusal
        if (refused) {
          this.shared.stats.refused++
          this.replies.fake(
            'query',
            Buffer.concat([refusal(refused.what).extended, m.READY[this.txStatus]])
          )
          return
        }
        this.noteStatement(facts.blanked)
        this.replies.forward('query')
        conn.write(msg.frame.raw)
        return
      }
      case 'P': {
        const refused = this.shared.analysis.refusal(blanked(msg))
        if (refused) {
          this.shared.stats.refused++
          // Fails like a server error: the rest up to Sync is skipped by the client's protocol.
          this.replies.fake('parse', refusal(refused.what).extended)
          this.skipToSync = true
          return
        }
        this.noteStatement(blanked(msg))
        this.statements.parse(conn, msg)
        return
      }
      case 'B':
        this.statements.bind(conn, msg)
        return
      case 'D':
        this.statements.describe(conn, msg)
        return
      case 'C':
        this.statements.close(conn, msg)
        return
      case 'E':
        this.replies.forward('execute')
        conn.write(msg.frame.raw)
        return
      case 'S':
        this.skipToSync = false
        this.replies.forward('sync')
        conn.write(msg.frame.raw)
        return
      case 'F':
        // A function call by OID: what it writes cannot be known.
        this.lease.wrote('all')
        this.shared.cache?.invalidate('all')
        this.replies.forward('function')
        conn.write(msg.frame.raw)
        return
      case 'H':
      case 'd':
      case 'c':
      case 'f':
        conn.write(msg.frame.raw)
        return
      case 'X':
        this.close()
        return
    }
  }

  /** SET marks the connection for reset; writes drop cached results of the written tables. */
  private noteStatement(text: string): void {
    const conn = this.lease.conn
    if (conn && sql.changesSession(text)) conn.dirty = true
    const cache = this.shared.cache
    if (!cache) return
    if (sql.changesSchema(text)) this.lease.ddl = true
    const catalog = this.shared.catalog()
    const w = writeEffects(catalog, sql.writes(text, catalog.volatility))
    this.lease.wrote(w)
    if (w === 'all' || w.length > 0) cache.invalidate(w)
  }

  /**
   * The frames of one origin read go to the client in one write, on the next tick (after the
   * whole read was handled). Frames cut from one read are adjacent slices of one buffer: they are
   * joined back into one slice without copying, so a typical reply (T D C Z) is a single
   * `write()` of the bytes as the origin sent them, with none of the per-frame Writable work.
   */
  private toClient(data: Buffer): void {
    const last = this.outLast
    if (last === undefined) {
      this.outLast = data
      process.nextTick(this.flushClient)
    } else if (last.buffer === data.buffer && last.byteOffset + last.length === data.byteOffset) {
      this.outLast = Buffer.from(last.buffer, last.byteOffset, last.length + data.length)
    } else {
      ;(this.outBefore ??= []).push(last)
      this.outLast = data
    }
  }

  private readonly flushClient = (): void => {
    const last = this.outLast
    if (last === undefined) return
    const before = this.outBefore
    this.outLast = undefined
    this.outBefore = undefined
    let ok: boolean
    if (before) {
      this.socket.cork()
      for (const b of before) this.socket.write(b)
      ok = this.socket.write(last)
      this.socket.uncork()
    } else ok = this.socket.write(last)
    if (!ok) this.lease.conn?.pause()
  }

  /** Writes to the client behind whatever replies are still on their way. */
  private send(data: Buffer): void {
    this.flushClient()
    this.socket.write(data)
  }

  private readonly sendBound = (data: Buffer): void => this.send(data)

  private onOriginFrame(frame: Frame): void {
    if (trace.enabled)
      trace('s%d <- origin: %s expects=%s', this.pid, frame.type, this.replies.describe())
    this.cacheFront?.onOriginFrame(frame)
    if (!this.replies.onOriginFrame(frame)) return
    this.txStatus = String.fromCharCode(frame.body[0] ?? 0x49) as 'I' | 'T' | 'E'
    this.cacheFront?.finish(this.txStatus)
    this.maybeRelease()
  }

  /** Idle, nothing in flight, nothing waiting: the connection goes back to the pool. */
  private maybeRelease(): void {
    if (this.txStatus !== 'I' || this.replies.length > 0 || this.backlog.length > 0) return
    const ddl = this.lease.ddl
    this.lease.release()
    if (ddl) this.shared.catalogChanged()
  }

  private onOriginLost(error: Error | undefined): void {
    this.lease.lost()
    this.replies.clear()
    this.cacheFront?.drop()
    this.fatal(
      SQLSTATE.connectionFailure,
      `wharf pool: the origin connection was lost${error ? `: ${error.message}` : ''}`
    )
  }

  /** CancelRequest for this client: forwarded only while it holds a connection. */
  cancel(): void {
    this.lease.cancel()
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
    this.lease.end(this.txStatus, this.replies.length > 0)
  }

  private fatal(code: string, message: string): void {
    if (this.stage === 'closed') return
    if (this.socket.writable) this.send(m.errorResponse(code, message, { severity: 'FATAL' }))
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
