/**
 * `Socket`: workerd's socket lifecycle (sockets.c++) on top of `node:net`/`node:tls`.
 *
 * The public class is a thin facade over `SocketCore`, which holds one lifecycle phase
 * (lifecycle.ts) and delegates to the parts that own their state: the read side (read-side.ts),
 * the write side (write-side.ts), connection set-up (connection.ts) and StartTLS (starttls.ts).
 * Events settle in workerd's order: on failure `closed` rejects before `opened`; `close()` waits
 * for `opened`, flushes queued writes, then cancels the streams and drops the connection; reading
 * EOF with `allowHalfOpen: false` flushes and closes the write side before `closed` resolves.
 */
import assert from 'node:assert'
import type net from 'node:net'
import { performance } from 'node:perf_hooks'
import type tls from 'node:tls'
import type { ParsedConnect, SecureTransport } from './address.js'
import { Connection, establish, type SetupHost } from './connection.js'
import * as diag from './diagnostics.js'
import { SocketAddressError, SocketClosedBeforeOpenError } from './errors.js'
import { Phase, assertTransition, isLive, isTransportEnd, type TransportEnd } from './lifecycle.js'
import * as msg from './messages.js'
import { ReadSide, type ReadHost } from './read-side.js'
import type { SocketTerms } from './runtime.js'
import {
  Upgrade,
  internalError,
  startTls,
  type UpgradeSource,
  type UpgradeTarget,
} from './starttls.js'
import { deferred, noop } from './streams.js'
import { WriteSide, type WriteHost } from './write-side.js'

/** What `opened` resolves to. Both keys are present, as in workerd; `localAddress` is undefined. */
export interface SocketInfo {
  remoteAddress?: string
  localAddress?: string
}

/** Options of `startTls()`. `servername` is accepted as an alias (Node-style, used by drivers). */
export interface TlsOptions {
  expectedServerHostname?: string
  /** Node-only: extra trusted CA certificates (PEM) for this handshake, added to Node's roots. */
  ca?: string | readonly string[]
}

const kCreate = Symbol('wharf.socket.create')
/** How long close() lets an in-progress connect finish before abandoning it. */
const CLOSE_CONNECT_GRACE_MS = 5000
/** How long teardown waits for buffered writes to reach the kernel before destroying anyway. */
const END_FLUSH_TIMEOUT_MS = 5000
/** How often the sockets past that wait are looked for (so the bound is 5–6 s). */
const END_SWEEP_INTERVAL_MS = 1000

/** Sockets whose end() has not finished, each with the time it gets destroyed anyway. */
const ending = new Set<{ readonly deadline: number; readonly done: () => void }>()
let sweeper: NodeJS.Timeout | undefined

/** One interval for every closing socket, instead of a timer per close (it runs on every request). */
function sweepEnding(): void {
  const now = performance.now()
  for (const entry of ending) if (entry.deadline <= now) entry.done()
  if (ending.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper)
    sweeper = undefined
  }
}

function endThenDestroy(node: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const entry = {
      deadline: performance.now() + END_FLUSH_TIMEOUT_MS,
      done: () => {
        if (!ending.delete(entry)) return
        node.destroy()
        resolve()
      },
    }
    ending.add(entry)
    // The process stays up while the socket is open; the sweep alone must not keep it up.
    sweeper ??= setInterval(sweepEnding, END_SWEEP_INTERVAL_MS).unref()
    node.once('close', entry.done)
    if (node.writableEnded) {
      if (node.writableFinished) entry.done()
      else node.once('finish', entry.done)
    } else node.end(entry.done)
  })
}

/**
 * Makes an error the socket makes on every close, read or not, without a stack trace: capturing
 * one costs several µs a socket under async stack traces, and its frames would be this library's
 * internals, never the Worker's code.
 */
function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = 0
  } catch {
    return make() // Worker code made the limit read-only: keep its choice
  }
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason))
}

/*
 * Invariants (asserted where they matter):
 * - `phase` moves only along lifecycle.ts's transitions.
 * - `beforeClose` is set exactly while `phase` is Closing or Closed.
 * - the runtime's `onFinished` and the close channel fire once: when the transport ends (a
 *   TransportEnd phase, or Closed from a live phase); an upgraded socket's terms belong to the
 *   new socket.
 */
class SocketCore
  implements ReadHost, WriteHost, SetupHost, UpgradeSource<Socket>, UpgradeTarget<Socket>
{
  readonly socket: Socket
  readonly parsed: ParsedConnect
  readonly secureTransport: SecureTransport
  terms: SocketTerms
  info: SocketInfo
  readonly opened = deferred<SocketInfo>(true)
  readonly closed = deferred<void>(true)
  phase: Phase = Phase.Connecting
  /** While Closing/Closed: the phase the socket would be in without close(). */
  private beforeClose: Phase | undefined
  upgrade: Upgrade = Upgrade.None
  /** The socket startTls() returned, until the upgrade is over. */
  private upgradeNext: SocketCore | undefined
  readonly connection = new Connection()
  readonly read: ReadSide
  readonly write: WriteSide
  opsInFlight = 0

  constructor(parsed: ParsedConnect, secureTransport: SecureTransport, terms: SocketTerms) {
    this.parsed = parsed
    this.secureTransport = secureTransport
    this.terms = terms
    this.info = { remoteAddress: parsed.addressString, localAddress: undefined }
    this.read = new ReadSide(this)
    this.write = new WriteSide(this, parsed.highWaterMark)
    this.socket = new Socket(kCreate, this)
  }

  // ---- state the parts consult --------------------------------------------------------------

  get closing(): boolean {
    return this.phase === Phase.Closing || this.phase === Phase.Closed
  }
  get closeDone(): boolean {
    return this.phase === Phase.Closed
  }
  get failed(): boolean {
    return this.connection.failed
  }
  get connected(): boolean {
    return this.connection.connected
  }
  get node(): net.Socket | undefined {
    return this.connection.node
  }
  get liveNode(): net.Socket | undefined {
    return this.connection.connected ? this.connection.node : undefined
  }
  get gone(): boolean {
    const { phase } = this
    if (this.upgrade >= Upgrade.Taken || this.connection.failed) return true
    if (phase === Phase.Closing)
      return this.beforeClose !== undefined && isTransportEnd(this.beforeClose)
    return !isLive(phase)
  }
  get upgraded(): boolean {
    return this.upgrade === Upgrade.Done
  }

  assertIo(kind: 'Readable' | 'Writable'): void {
    this.terms.assertIo?.(kind)
  }

  whenConnected(): Promise<void> {
    return this.connection.whenConnected()
  }

  private to(next: Phase): void {
    assertTransition(this.phase, next)
    this.phase = next
  }

  /**
   * The transport ended without close() (failure, loss, EOF close, takeover). While closing, the
   * end is remembered for `gone`; it is reported either way, once.
   */
  private transportEnded(end: TransportEnd, reason: string): void {
    if (this.phase === Phase.Closing) {
      assert(this.beforeClose !== undefined)
      if (isTransportEnd(this.beforeClose)) return
      this.beforeClose = end
    } else {
      if (!isLive(this.phase)) return
      this.to(end)
    }
    this.report(reason)
  }

  private report(reason: string): void {
    this.connection.clearTimer()
    if (diag.closeChannel.hasSubscribers) {
      diag.closeChannel.publish({ socket: this.socket, address: this.parsed.addressString, reason })
    }
    if (this.upgrade === Upgrade.None) this.terms.onFinished?.()
  }

  // ---- connecting -----------------------------------------------------------------------------

  /** Wires a Node socket (plain, TLS, or TLS over a taken plain socket) to the streams. */
  attach(node: net.Socket): void {
    this.connection.node = node
    node.pause()
    node.on('data', (chunk: Buffer) => this.read.onData(chunk, node))
    node.on('end', () => this.read.onEnd())
    node.on('error', (error: Error) => this.onNodeError(error))
    node.on('close', () => this.onNodeClose())
  }

  onConnected(): void {
    if (!this.connection.pending) return
    this.connection.markConnected()
    if (this.phase === Phase.Connecting) this.to(Phase.Open)
    if (diag.connectedChannel.hasSubscribers) {
      diag.connectedChannel.publish({
        socket: this.socket,
        address: this.parsed.addressString,
        remoteIp: this.node?.remoteAddress,
        localPort: this.node?.localPort,
      })
    }
    // workerd: when startTls() was called before the connection opened, the old socket's
    // `closed` settles first and its `opened` right after (see releaseOpened).
    if (this.upgrade === Upgrade.None) this.opened.resolve(this.info)
    this.read.onConnected()
  }

  /** Connection failure before or during open: workerd's generic error, closed first. */
  fail(cause: unknown, workerMessage?: string): void {
    if (this.connection.connected) {
      this.lose(cause)
      return
    }
    if (this.connection.failed) return
    this.connection.markFailed()
    const message = workerMessage ?? msg.connectFailed(this.parsed.httpPort)
    diag.debug('connect to %s failed: %s', this.parsed.addressString, cause)
    if (diag.errorChannel.hasSubscribers) {
      diag.errorChannel.publish({
        socket: this.socket,
        address: this.parsed.addressString,
        error: cause,
        phase: 'connect',
      })
    }
    const next = cause instanceof SocketAddressError ? this.upgradeNext : undefined
    if (next) {
      // workerd: startTls() called before an unreachable address failed takes a connection that
      // never existed: the old `closed` resolves, the new socket fails with its own message.
      this.closed.resolve()
      next.opened.reject(new Error(msg.STARTTLS_UNSUPPORTED))
      this.opened.reject(new Error(message))
      next.failUpgrade(new Error(msg.STARTTLS_UNSUPPORTED))
    } else {
      this.closed.reject(new Error(message))
      this.opened.reject(new Error(message))
    }
    const writeError = new Error(`jsg.Error: ${message}`)
    this.write.closeHeldWriter()
    this.connection.rejectWrites(writeError)
    this.read.settlePendingRead(new Error(msg.STREAM_CANCELLED))
    this.read.close()
    this.write.error(writeError)
    this.node?.destroy()
    this.transportEnded(Phase.Failed, 'failed')
  }

  /** A live connection broke (RST, EPIPE): I/O fails with "Network connection lost.". */
  lose(cause: unknown): void {
    if (this.phase !== Phase.Open) return
    diag.debug('connection to %s lost: %s', this.parsed.addressString, cause)
    if (diag.errorChannel.hasSubscribers) {
      diag.errorChannel.publish({
        socket: this.socket,
        address: this.parsed.addressString,
        error: cause,
        phase: 'io',
      })
    }
    const error = new Error(msg.CONNECTION_LOST)
    this.write.onLost()
    this.to(Phase.Lost)
    // workerd resolves `closed` before the pending read and the writer learn of the loss.
    this.closed.resolve()
    this.read.settlePendingRead(error)
    if (!this.read.eofDelivered) this.read.error(error)
    this.write.error(error)
    this.node?.destroy()
    this.report('lost')
  }

  private onNodeError(error: Error): void {
    if (!this.connection.connected) this.fail(error)
    else this.lose(error)
  }

  private onNodeClose(): void {
    if (this.connection.pending) {
      this.fail(new SocketClosedBeforeOpenError('connection closed before it opened'))
    }
  }

  // ---- reading EOF ----------------------------------------------------------------------------

  onEofRead(): void {
    if (!this.parsed.allowHalfOpen) void this.closeWriteSideAfterEof()
  }

  private async closeWriteSideAfterEof(): Promise<void> {
    await this.write.flushWrites()
    if (this.phase !== Phase.Open) return
    this.write.markEnded()
    const node = this.node
    if (node && !node.destroyed) await endThenDestroy(node)
    // The writable is now closed for good: a held writer's `closed` resolves, as in workerd,
    // before the socket's `closed` does.
    await this.write.closeFromInside()
    this.closed.resolve()
    this.transportEnded(Phase.Ended, 'eof')
  }

  // ---- close ----------------------------------------------------------------------------------

  close(): Promise<void> {
    if (!this.closing) {
      this.beforeClose = this.phase
      this.to(Phase.Closing)
      void this.runClose()
      return this.closed.promise.then(noop, noop)
    }
    // workerd: a later call returns `closed` itself, so it settles in the same turn as `closed`
    // (the first call settles a turn later), and rejects with it when the connect failed.
    return this.write.aborted ? this.closed.promise.then(noop, noop) : this.closed.promise
  }

  private async runClose(): Promise<void> {
    // workerd lets a connect in progress finish before closing (opened still resolves). A connect
    // that hangs must not make close() hang too: give it a bounded grace period.
    if (!this.opened.settled) {
      const grace = setTimeout(
        () => this.fail(new SocketClosedBeforeOpenError('closed while connecting')),
        CLOSE_CONNECT_GRACE_MS
      )
      await this.opened.promise.then(noop, noop)
      clearTimeout(grace)
    }
    await this.write.flushWrites()
    // workerd: a reader.cancel() or writer.abort() made in the same turn settles first.
    for (let i = 0; i < 8 && this.opsInFlight > 0; i++) await Promise.resolve()
    const closedError = withoutStack(() => new TypeError(msg.SOCKET_CLOSED))
    // workerd settles `closed` (and close()) first and rejects a pending read only afterwards, on
    // a later turn: drivers (redis-on-workers) rely on that order. Take the read over now.
    const pendingRead = this.read.takePendingRead()
    // workerd: an aborted writable fails the close before it reaches the readable, whose reader
    // then never sees `closed` settle (reads still fail with the "closing" error).
    if (!this.write.aborted) {
      this.read.close()
      this.read.disturb()
    }
    this.write.error(closedError)
    this.write.markEnded()
    const node = this.node
    if (node && !node.destroyed && !this.upgraded) {
      // end() writes out what Node still buffers, then sends FIN; destroy once that is done.
      await endThenDestroy(node)
    }
    const wasLive = this.beforeClose !== undefined && !isTransportEnd(this.beforeClose)
    this.write.lockedForGood = this.write.locked
    this.to(Phase.Closed)
    // workerd: a writable aborted before close() completed makes `closed` reject with the reason.
    if (this.write.aborted) this.closed.reject(asError(this.write.abortReason))
    else this.closed.resolve()
    if (wasLive) this.report('close')
    if (pendingRead) setImmediate(() => pendingRead.reject(closedError))
  }

  // ---- startTls -------------------------------------------------------------------------------

  startTls(options: unknown): Socket {
    return startTls(this, options)
  }

  spawnSecure(): SocketCore {
    this.upgradeNext = new SocketCore(this.parsed, 'on', this.terms)
    return this.upgradeNext
  }

  handedOver(): void {
    this.upgradeNext = undefined
    this.closed.resolve()
    this.transportEnded(Phase.Upgraded, 'upgraded')
  }

  releaseOpened(): void {
    if (this.connection.connected) this.opened.resolve(this.info)
  }

  /** The new socket of `startTls()`: open once the handshake is done. */
  upgradeOver(secure: tls.TLSSocket): void {
    this.connection.node = secure
    secure.pause()
    secure.on('data', (chunk: Buffer) => this.read.onData(chunk, secure))
    secure.on('end', () => this.read.onEnd())
    secure.on('close', () => this.onNodeClose())
    secure.on('error', (error: Error) => {
      if (!this.connection.connected) this.failUpgrade(internalError(), error)
      else this.lose(error)
    })
    secure.once('secureConnect', () => this.onConnected())
  }

  /** startTls failed: the new socket's I/O and `closed` reject with `error`; `opened` too. */
  failUpgrade(error: Error, cause?: unknown): void {
    if (this.connection.failed) return
    this.connection.markFailed()
    diag.debug('startTls on %s failed: %s', this.parsed.addressString, cause ?? error)
    if (diag.errorChannel.hasSubscribers) {
      diag.errorChannel.publish({
        socket: this.socket,
        address: this.parsed.addressString,
        error: cause ?? error,
        phase: 'startTls',
      })
    }
    // A handshake failure rejects `opened` (before `closed`, as in workerd); a locked old stream
    // leaves it pending.
    if (cause !== undefined) this.opened.reject(error)
    this.closed.reject(error)
    // workerd: a writer held now is closed for good once it has reported the failure, and a
    // write made before the handshake fails ahead of a pending read.
    this.write.closeHeldWriter()
    this.connection.rejectWrites(error)
    const pendingRead = this.read.takePendingRead()
    if (pendingRead) void this.write.flushWrites().then(() => pendingRead.reject(error))
    this.read.error(error)
    this.write.error(error)
    this.node?.destroy()
    this.transportEnded(Phase.Failed, 'failed')
  }
}

/**
 * A TCP socket, as returned by `connect()`. Not constructible directly.
 *
 * @example
 * ```ts
 * const socket = connect('example.com:7')
 * const writer = socket.writable.getWriter()
 * await writer.write('hello')
 * const { value } = await socket.readable.getReader().read()
 * await socket.close()
 * ```
 */
export class Socket {
  readonly #core: SocketCore

  /** @internal */
  constructor(token?: unknown, core?: unknown) {
    if (token !== kCreate || !(core instanceof SocketCore)) {
      throw new TypeError(msg.ILLEGAL_CONSTRUCTOR)
    }
    this.#core = core
  }

  /** Bytes from the peer: a byte stream (`getReader({ mode: 'byob' })` works). */
  get readable(): ReadableStream<Uint8Array> {
    return this.#core.read.readable
  }

  /** Bytes to the peer: accepts ArrayBuffer, any ArrayBufferView, and strings (UTF-8). */
  get writable(): WritableStream<unknown> {
    return this.#core.write.writable
  }

  /** Resolves when the connection is done; rejects if connecting failed. Never unhandled. */
  get closed(): Promise<void> {
    return this.#core.closed.promise
  }

  /** Resolves with `{ remoteAddress, localAddress }` once connected (after TLS for `'on'`). */
  get opened(): Promise<SocketInfo> {
    return this.#core.opened.promise
  }

  /** True on a `'starttls'` socket once `startTls()` has taken over its connection. */
  get upgraded(): boolean {
    return this.#core.upgraded
  }

  /** `'off'`, `'on'` or `'starttls'`, as created; never changes. */
  get secureTransport(): 'on' | 'off' | 'starttls' {
    return this.#core.secureTransport
  }

  /** Flushes queued writes, then closes both directions. Every call resolves. */
  close(): Promise<void> {
    return this.#core.close()
  }

  /** Upgrades a `'starttls'` socket to TLS, returning the new socket. */
  startTls(options?: TlsOptions): Socket {
    return this.#core.startTls(options)
  }

  get [Symbol.toStringTag](): string {
    return 'Socket'
  }
}

// Web IDL makes attributes and operations enumerable.
for (const key of [
  'readable',
  'writable',
  'closed',
  'opened',
  'upgraded',
  'secureTransport',
  'close',
  'startTls',
]) {
  const descriptor = Object.getOwnPropertyDescriptor(Socket.prototype, key)
  if (descriptor) Object.defineProperty(Socket.prototype, key, { ...descriptor, enumerable: true })
}

/** @internal Creates a socket and starts connecting. Used by `connect()`. */
export function createSocket(
  parsed: ParsedConnect,
  admit: (socket: Socket) => SocketTerms
): Socket {
  const core = new SocketCore(parsed, parsed.secureTransport, {})
  const terms = admit(core.socket)
  core.terms = terms
  if (terms.info !== undefined) {
    core.info = { remoteAddress: terms.info.remoteAddress, localAddress: terms.info.localAddress }
  }
  if (diag.connectChannel.hasSubscribers) {
    diag.connectChannel.publish({
      socket: core.socket,
      address: parsed.addressString,
      secureTransport: parsed.secureTransport,
    })
  }
  void establish(core)
  return core.socket
}
