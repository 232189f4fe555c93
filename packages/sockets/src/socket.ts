/**
 * `Socket`: workerd's socket lifecycle (sockets.c++) on top of `node:net`/`node:tls`.
 *
 * The public class is a thin facade; `SocketCore` holds the state machine. Events settle in
 * workerd's order: on failure `closed` rejects before `opened`; `close()` waits for `opened`,
 * flushes queued writes, then cancels the streams and drops the connection; reading EOF with
 * `allowHalfOpen: false` flushes and closes the write side before `closed` resolves.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import { toJsString, type ParsedConnect, type SecureTransport } from './address.js'
import * as diag from './diagnostics.js'
import * as msg from './messages.js'
import type { SocketTerms } from './runtime.js'
import type {
  ReadableByteStreamController,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
} from 'node:stream/web'
import {
  chunkToBytes,
  closeFromInside,
  closeHeldWriter,
  createReadable,
  createWritable,
  deferred,
  noop,
  type Deferred,
  type SocketReadableStream,
  type SocketWritableStream,
  type StreamOwner,
} from './streams.js'
import { collectCa, tlsClientOptions } from './tls-context.js'

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
const DEFAULT_WRITABLE_HWM = 1
/** How long close() lets an in-progress connect finish before abandoning it. */
const CLOSE_CONNECT_GRACE_MS = 5000

function internalError(): Error {
  return new Error(`internal error; reference = ${randomBytes(12).toString('hex')}`)
}

/** Transfers a received chunk into the stream without copying when it owns its whole buffer. */
function ownBytes(chunk: Buffer): Uint8Array {
  if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
    return new Uint8Array(chunk.buffer, 0, chunk.byteLength)
  }
  return new Uint8Array(chunk)
}

/** How long teardown waits for buffered writes to reach the kernel before destroying anyway. */
const END_FLUSH_TIMEOUT_MS = 5000

function endThenDestroy(node: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      node.destroy()
      resolve()
    }
    const timer = setTimeout(done, END_FLUSH_TIMEOUT_MS)
    node.once('close', done)
    if (node.writableEnded) {
      if (node.writableFinished) done()
      else node.once('finish', done)
    } else node.end(done)
  })
}

/** Resolves once Node's own write buffer is empty (or the socket is gone). */
function drained(node: net.Socket): Promise<void> {
  if (node.writableLength === 0 || node.destroyed) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const done = () => {
      node.off('drain', done)
      node.off('close', done)
      resolve()
    }
    node.once('drain', done)
    node.once('close', done)
  })
}

class SocketCore implements StreamOwner {
  readonly socket: Socket
  readonly parsed: ParsedConnect
  readonly secureTransport: SecureTransport
  terms: SocketTerms
  readonly info: SocketInfo
  readonly opened = deferred<SocketInfo>(true)
  readonly closed = deferred<void>(true)
  /** Settles when the connection is usable; rejects with the writable's abort error. */
  private connection: Deferred<void> | undefined
  private connectError: Error | undefined

  node: net.Socket | undefined
  connected = false
  failed = false
  closing = false
  closeDone = false
  lost = false
  private openedDeferred = false
  writeSideClosed = false
  upgraded = false
  startTlsCalled = false
  /** The connection was closed or taken over by `startTls()`: startTls can no longer start. */
  gone = false
  pendingRead: Deferred<unknown> | undefined
  lastWriter: WritableStreamDefaultWriter<unknown> | undefined
  private writeEndClosed = false

  // The streams are made on first use: an idle socket costs a fraction of the memory, and data
  // waits in the kernel until someone reads. What happened before they existed is replayed.
  private readableStream: SocketReadableStream | undefined
  private writableStream: SocketWritableStream | undefined
  private readController: ReadableByteStreamController | undefined
  private writeController: WritableStreamDefaultController | undefined
  private readEnd: Error | null | undefined
  private writeEnd: Error | undefined
  private paused = true
  private pullPending = false
  private eofPending = false
  private eofDelivered = false
  private readCancelled = false
  private pendingWrites = 0
  private flushWaiters: (() => void)[] = []
  private finished = false
  private ownsTerms = true
  private timer: NodeJS.Timeout | undefined

  constructor(parsed: ParsedConnect, secureTransport: SecureTransport, terms: SocketTerms) {
    this.parsed = parsed
    this.secureTransport = secureTransport
    this.terms = terms
    this.info = { remoteAddress: parsed.addressString, localAddress: undefined }
    this.socket = new Socket(kCreate, this)
  }

  get readable(): SocketReadableStream {
    this.readableStream ??= createReadable(this, {
      type: 'bytes',
      start: (controller) => {
        this.readController = controller
        if (this.readEnd === null) controller.close()
        else if (this.readEnd !== undefined) controller.error(this.readEnd)
      },
      pull: () => this.pull(),
      cancel: () => this.cancelReading(),
    })
    return this.readableStream
  }

  get writable(): SocketWritableStream {
    this.writableStream ??= createWritable(
      this,
      {
        start: (controller) => {
          this.writeController = controller
          if (this.writeEnd !== undefined) controller.error(this.writeEnd)
        },
        write: (chunk) => this.sinkWrite(chunk),
        close: () => this.sinkClose(),
      },
      this.parsed.highWaterMark ?? DEFAULT_WRITABLE_HWM
    )
    if (this.writeEndClosed) void closeFromInside(this.writableStream, this)
    return this.writableStream
  }

  /** Resolves when connected; rejects with the writable's error if connecting failed. */
  private whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve()
    if (this.connectError) return Promise.reject(this.connectError)
    this.connection ??= deferred<void>(true)
    return this.connection.promise
  }

  assertIo(kind: 'Readable' | 'Writable'): void {
    this.terms.assertIo?.(kind)
  }

  trackWrite(): () => void {
    this.pendingWrites++
    return this.untrackWrite
  }

  /** Settles one tracked write; bound once so the hot path allocates no closure per write. */
  private readonly untrackWrite = (): void => {
    if (--this.pendingWrites === 0 && this.flushWaiters.length > 0) {
      const waiters = this.flushWaiters
      this.flushWaiters = []
      for (const w of waiters) w()
    }
  }

  /** Resolves once every write accepted so far has reached the kernel (or failed). */
  flushWrites(): Promise<void> {
    if (this.pendingWrites === 0) return Promise.resolve()
    return new Promise((resolve) => this.flushWaiters.push(resolve))
  }

  // ---- connecting -------------------------------------------------------------------------

  async establish(): Promise<void> {
    const { parsed } = this
    try {
      if (this.terms.admitted) await this.terms.admitted
    } catch (error) {
      this.fail(error, error instanceof Error ? error.message : undefined)
      return
    }
    const timeoutMs = parsed.node.connectTimeoutMs ?? this.terms.connectTimeoutMs
    // Only a policy's lookup or a dial can be aborted; without them, skip the (costly) controller.
    const abort = this.terms.policy || this.terms.dial ? new AbortController() : undefined
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        const error = Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), {
          code: 'ERR_SOCKET_CONNECT_TIMEOUT',
        })
        abort?.abort(error)
        this.fail(error)
      }, timeoutMs)
    }
    const target = parsed.target
    if (target === undefined) {
      this.fail(new Error(`address ${parsed.addressString} is not a reachable host:port`))
      return
    }
    let host = target.host
    if (this.terms.policy && abort) {
      let decision
      try {
        decision = await this.terms.policy.decide(host, target.port, abort.signal)
      } catch (error) {
        this.fail(error)
        return
      }
      if (this.failed) return
      if (!decision.allowed) {
        this.fail(
          Object.assign(new Error(`egress denied by ${decision.rule}: ${decision.reason}`), {
            code: 'ERR_EGRESS_DENIED',
          }),
          decision.workerMessage
        )
        return
      }
      host = decision.address
    }
    if (this.failed) return
    if (this.terms.dial && abort) {
      await this.establishByDial(host, target.port, abort.signal)
      return
    }
    let node: net.Socket
    if (this.secureTransport === 'on') {
      const ca = collectCa(this.terms.ca, parsed.node.ca)
      node = tls.connect({
        ...tlsClientOptions(parsed.domain, ca),
        host,
        port: target.port,
        allowHalfOpen: true,
        noDelay: true,
      } as tls.ConnectionOptions)
      node.once('secureConnect', () => this.onConnected())
    } else {
      node = net.connect({ host, port: target.port, allowHalfOpen: true, noDelay: true })
      node.once('connect', () => this.onConnected())
    }
    this.attach(node)
  }

  /** The runtime opens the connection (e.g. a broker outside a sandbox); TLS is added here. */
  private async establishByDial(
    hostname: string,
    port: number,
    signal: AbortSignal
  ): Promise<void> {
    let plain: net.Socket
    try {
      if (!this.terms.dial) throw new Error('no dial')
      plain = await this.terms.dial({ hostname, port }, signal)
    } catch (error) {
      const workerMessage = (error as { workerMessage?: unknown } | null)?.workerMessage
      this.fail(error, typeof workerMessage === 'string' ? workerMessage : undefined)
      return
    }
    if (this.failed || this.closing) {
      plain.destroy()
      if (!this.failed) this.fail(new Error('closed while connecting'))
      return
    }
    // A socket made from a passed handle has Node's default (false): workerd's EOF rules are ours.
    plain.allowHalfOpen = true
    plain.setNoDelay(true)
    if (this.secureTransport === 'on') {
      const ca = collectCa(this.terms.ca, this.parsed.node.ca)
      const secure = tls.connect({ ...tlsClientOptions(this.parsed.domain, ca), socket: plain })
      secure.once('secureConnect', () => this.onConnected())
      this.attach(secure)
      return
    }
    this.attach(plain)
    this.onConnected()
  }

  /** Wires a Node socket (plain, TLS, or TLS over a taken plain socket) to the streams. */
  attach(node: net.Socket): void {
    this.node = node
    node.pause()
    node.on('data', (chunk: Buffer) => this.onData(chunk))
    node.on('end', () => this.onEnd())
    node.on('error', (error: Error) => this.onNodeError(error))
    node.on('close', () => this.onNodeClose())
  }

  onConnected(): void {
    if (this.failed || this.connected) return
    if (this.timer) clearTimeout(this.timer)
    this.connected = true
    this.connection?.resolve()
    if (diag.connectedChannel.hasSubscribers) {
      diag.connectedChannel.publish({
        socket: this.socket,
        address: this.parsed.addressString,
        remoteIp: this.node?.remoteAddress,
        localPort: this.node?.localPort,
      })
    }
    // workerd: when startTls() was called before the connection opened, the old socket's
    // `closed` settles first and its `opened` right after (see upgradeInto).
    if (this.startTlsCalled) this.openedDeferred = true
    else this.opened.resolve(this.info)
    if (this.pullPending) this.resume()
  }

  /** Connection failure before or during open: workerd's generic error, closed first. */
  fail(cause: unknown, workerMessage?: string): void {
    if (this.failed || this.connected) {
      if (this.connected) this.lose(cause)
      return
    }
    this.failed = true
    this.gone = true
    if (this.timer) clearTimeout(this.timer)
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
    this.closed.reject(new Error(message))
    this.opened.reject(new Error(message))
    const writeError = new Error(`jsg.Error: ${message}`)
    this.connectError = writeError
    if (this.writableStream?.locked === true && this.lastWriter) closeHeldWriter(this.lastWriter)
    this.connection?.reject(writeError)
    this.settlePendingRead(new Error('Stream was cancelled.'))
    this.closeReadable()
    this.errorWritable(writeError)
    this.node?.destroy()
    this.finish('failed')
  }

  /** A live connection broke (RST, EPIPE): I/O fails with "Network connection lost.". */
  lose(cause: unknown): void {
    if (this.finished || this.closing) return
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
    this.gone = true
    this.lost = true
    // workerd resolves `closed` before the pending read and the writer learn of the loss.
    this.closed.resolve()
    this.settlePendingRead(error)
    if (!this.eofDelivered) this.errorReadable(error)
    this.errorWritable(error)
    this.node?.destroy()
    this.finish('lost')
  }

  // ---- reading ----------------------------------------------------------------------------

  private resume(): void {
    if (this.paused && this.node && this.connected) {
      this.paused = false
      this.node.resume()
    }
  }

  private pull(): void {
    if (this.eofPending) {
      this.deliverEof()
      return
    }
    this.pullPending = true
    this.resume()
  }

  private onData(chunk: Buffer): void {
    if (this.readCancelled || this.closing) return
    this.pullPending = false
    const controller = this.readController
    if (controller === undefined) return
    controller.enqueue(ownBytes(chunk))
    // Nothing is read ahead of the application (workerd has no readable buffer): stop the
    // socket once data is queued without a reader waiting for it.
    if (!this.pullPending && (controller.desiredSize ?? 0) < 0 && !this.paused) {
      this.paused = true
      this.node?.pause()
    }
  }

  private onEnd(): void {
    if (this.readCancelled || this.closing) return
    if (this.pullPending) this.deliverEof()
    else this.eofPending = true
  }

  /** The application has now read EOF. */
  private deliverEof(): void {
    this.eofPending = false
    this.pullPending = false
    this.eofDelivered = true
    this.closeReadable()
    if (!this.parsed.allowHalfOpen) void this.closeWriteSideAfterEof()
  }

  private async closeWriteSideAfterEof(): Promise<void> {
    await this.flushWrites()
    if (this.closing || this.finished) return
    this.writeSideClosed = true
    const node = this.node
    if (node && !node.destroyed) await endThenDestroy(node)
    // The writable is now closed for good: a held writer's `closed` resolves, as in workerd,
    // before the socket's `closed` does.
    if (this.writableStream) await closeFromInside(this.writableStream, this)
    else this.writeEndClosed = true
    this.gone = true
    this.closed.resolve()
    this.finish('eof')
  }

  private cancelReading(): void {
    // workerd: cancelling the reader leaves the socket open and writable.
    this.readCancelled = true
    this.paused = true
    this.node?.pause()
  }

  settlePendingRead(error: Error): void {
    const pending = this.pendingRead
    if (pending) {
      this.pendingRead = undefined
      pending.reject(error)
    }
  }

  closeReadable(): void {
    const controller = this.readController
    if (controller === undefined) {
      if (this.readEnd === undefined) this.readEnd = null
      return
    }
    try {
      controller.close()
      controller.byobRequest?.respond(0)
    } catch {
      // already closed or errored
    }
  }

  private errorReadable(error: Error): void {
    const controller = this.readController
    if (controller === undefined) {
      if (this.readEnd === undefined) this.readEnd = error
      return
    }
    try {
      controller.error(error)
    } catch {
      // already closed or errored
    }
  }

  private errorWritable(error: Error): void {
    const controller = this.writeController
    if (controller === undefined) {
      this.writeEnd ??= error
      return
    }
    try {
      controller.error(error)
    } catch {
      // already errored
    }
  }

  // ---- writing ----------------------------------------------------------------------------

  private sinkWrite(chunk: unknown): Promise<void> | void {
    const bytes = chunkToBytes(chunk)
    if (bytes === undefined) return Promise.reject(new TypeError(msg.WRITE_BAD_TYPE))
    if (bytes === null || bytes.byteLength === 0) return
    if (!this.connected) return this.whenConnected().then(() => this.writeNow(bytes))
    return this.writeNow(bytes)
  }

  private writeNow(bytes: Uint8Array): Promise<void> | undefined {
    const node = this.node
    if (node === undefined || node.destroyed || node.writableEnded) {
      return Promise.reject(new Error(msg.CONNECTION_LOST))
    }
    // Node buffers up to its own high-water mark (16 KiB); below it the write is as good as
    // handed to the kernel, so settle now. Above it, wait for the write to drain: that wait is
    // the backpressure the Worker sees through writer.ready. Failures surface via 'error'.
    if (node.write(bytes)) return undefined
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        node.off('close', onClose)
        resolve()
      }
      const onClose = () => {
        node.off('drain', onDrain)
        reject(new Error(msg.CONNECTION_LOST))
      }
      node.once('drain', onDrain)
      node.once('close', onClose)
    })
  }

  private async sinkClose(): Promise<void> {
    // workerd: writer.close() waits for opened (ignoring failure), then half-closes.
    try {
      await this.whenConnected()
    } catch {
      return
    }
    const node = this.node
    if (node === undefined || node.destroyed || node.writableEnded) return
    await new Promise<void>((resolve) => node.end(resolve))
  }

  // ---- node events ------------------------------------------------------------------------

  private onNodeError(error: Error): void {
    if (!this.connected) this.fail(error)
    else this.lose(error)
  }

  private onNodeClose(): void {
    if (!this.connected && !this.failed) {
      this.fail(new Error('connection closed before it opened'))
    }
  }

  // ---- close ------------------------------------------------------------------------------

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true
      void this.runClose()
    }
    return this.closed.promise.then(noop, noop)
  }

  private async runClose(): Promise<void> {
    // workerd lets a connect in progress finish before closing (opened still resolves). A connect
    // that hangs must not make close() hang too: give it a bounded grace period.
    if (!this.opened.settled) {
      const grace = setTimeout(
        () => this.fail(new Error('closed while connecting')),
        CLOSE_CONNECT_GRACE_MS
      )
      await this.opened.promise.then(noop, noop)
      clearTimeout(grace)
    }
    await this.flushWrites()
    const closedError = new TypeError(msg.SOCKET_CLOSED)
    // workerd settles `closed` (and close()) first and rejects a pending read only afterwards, on
    // a later turn: drivers (redis-on-workers) rely on that order. Take the read over now.
    const pendingRead = this.pendingRead
    this.pendingRead = undefined
    if (pendingRead) pendingRead.detached = true
    this.closeReadable()
    this.errorWritable(closedError)
    this.writeSideClosed = true
    const node = this.node
    if (node && !node.destroyed && !this.upgraded) {
      // end() writes out what Node still buffers, then sends FIN; destroy once that is done.
      await endThenDestroy(node)
    }
    this.closeDone = true
    this.gone = true
    this.closed.resolve()
    this.finish('close')
    if (pendingRead) setImmediate(() => pendingRead.reject(closedError))
  }

  private finish(reason: string): void {
    if (this.finished) return
    this.finished = true
    if (this.timer) clearTimeout(this.timer)
    if (diag.closeChannel.hasSubscribers) {
      diag.closeChannel.publish({ socket: this.socket, address: this.parsed.addressString, reason })
    }
    if (this.ownsTerms) this.terms.onFinished?.()
  }

  // ---- startTls ---------------------------------------------------------------------------

  startTls(options: unknown): Socket {
    if (
      options !== undefined &&
      options !== null &&
      typeof options !== 'object' &&
      typeof options !== 'function'
    ) {
      throw new TypeError(msg.STARTTLS_OPTIONS_NOT_OBJECT)
    }
    if (this.secureTransport === 'on') throw new TypeError(msg.STARTTLS_ON_TLS)
    if (this.gone) throw new TypeError(msg.STARTTLS_CLOSED)
    if (this.secureTransport === 'off') throw new TypeError(msg.STARTTLS_NOT_STARTTLS)
    if (this.startTlsCalled) throw new TypeError(msg.STARTTLS_TWICE)
    this.startTlsCalled = true
    const o = (options ?? {}) as {
      expectedServerHostname?: unknown
      servername?: unknown
      ca?: unknown
    }
    // Node-only extra: CAs to trust for this handshake (pg passes its `ssl.ca` here).
    const ca = o.ca
    if (
      ca !== undefined &&
      typeof ca !== 'string' &&
      !(Array.isArray(ca) && ca.every((c) => typeof c === 'string'))
    ) {
      throw new TypeError('startTls option ca must be a PEM string or an array of PEM strings')
    }
    const name =
      o.expectedServerHostname !== undefined
        ? toJsString(o.expectedServerHostname)
        : typeof o.servername === 'string' && o.servername !== ''
          ? o.servername
          : this.parsed.domain
    const next = new SocketCore(this.parsed, 'on', this.terms)
    // The connection (and the runtime's accounting of it) moves to the new socket.
    this.ownsTerms = false
    queueMicrotask(() => {
      this.gone = true
    })
    void this.upgradeInto(next, name, ca)
    return next.socket
  }

  private async upgradeInto(
    next: SocketCore,
    name: string,
    extraCa: string | readonly string[] | undefined
  ): Promise<void> {
    await this.whenConnected().catch(noop)
    try {
      await this.takeOverInto(next, name, extraCa)
    } finally {
      if (this.openedDeferred) this.opened.resolve(this.info)
    }
  }

  private async takeOverInto(
    next: SocketCore,
    name: string,
    extraCa: string | readonly string[] | undefined
  ): Promise<void> {
    if (this.failed) {
      next.fail(new Error('connection failed before startTls'))
      return
    }
    if (this.closing) {
      // workerd: the upgrade finds no connection to take over and fails with an internal error.
      next.failUpgrade(internalError(), new Error('socket closed before startTls'))
      return
    }
    if (this.writableStream?.locked === true) {
      next.failUpgrade(new TypeError(msg.WRITABLE_LOCKED))
      return
    }
    await this.flushWrites()
    if (this.node) await drained(this.node)
    if (this.readableStream?.locked === true) {
      next.failUpgrade(new TypeError(msg.READABLE_LOCKED_ON_UPGRADE))
      return
    }
    // Take both streams for good: the old socket's streams stay locked after the upgrade.
    this.readable.getReader()
    this.writable.getWriter()
    const plain = this.node
    if (plain === undefined) {
      next.fail(new Error('no connection to upgrade'))
      return
    }
    plain.removeAllListeners('data')
    plain.removeAllListeners('end')
    plain.removeAllListeners('close')
    plain.removeAllListeners('error')
    plain.on('error', noop)
    plain.pause()
    this.node = undefined
    // Resolve the old `closed` after the new socket's writer.ready has had a turn: postgres.js
    // treats this ordering as its secureConnect signal.
    await new Promise((resolve) => setImmediate(resolve))
    this.upgraded = true
    this.closed.resolve()
    this.finish('upgraded')
    const ca = collectCa(this.terms.ca, this.parsed.node.ca, extraCa)
    const secure = tls.connect({ ...tlsClientOptions(name, ca), socket: plain })
    next.upgradeOver(secure)
  }

  /** The new socket of `startTls()`: open once the handshake is done. */
  private upgradeOver(secure: tls.TLSSocket): void {
    this.node = secure
    this.node.pause()
    secure.on('data', (chunk: Buffer) => this.onData(chunk))
    secure.on('end', () => this.onEnd())
    secure.on('close', () => this.onNodeClose())
    secure.on('error', (error: Error) => {
      if (!this.connected) this.failUpgrade(internalError(), error)
      else this.lose(error)
    })
    secure.once('secureConnect', () => this.onConnected())
  }

  /** startTls failed: the new socket's I/O and `closed` reject with `error`; `opened` too. */
  failUpgrade(error: Error, cause?: unknown): void {
    if (this.failed) return
    this.failed = true
    this.gone = true
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
    this.connectError = error
    this.connection?.reject(error)
    this.settlePendingRead(error)
    this.errorReadable(error)
    this.errorWritable(error)
    this.node?.destroy()
    this.finish('failed')
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
    return this.#core.readable
  }

  /** Bytes to the peer: accepts ArrayBuffer, any ArrayBufferView, and strings (UTF-8). */
  get writable(): WritableStream<unknown> {
    return this.#core.writable
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
  if (diag.connectChannel.hasSubscribers) {
    diag.connectChannel.publish({
      socket: core.socket,
      address: parsed.addressString,
      secureTransport: parsed.secureTransport,
    })
  }
  void core.establish()
  return core.socket
}
