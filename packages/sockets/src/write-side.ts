/**
 * The socket's write side: its WritableStream (made on first use), the sink that hands bytes to
 * the Node socket with backpressure, the count of writes not yet flushed (close() and startTls()
 * wait for them), and how the side ended.
 */
import type { Socket as NodeSocket } from 'node:net'
import type { WritableStreamDefaultController, WritableStreamDefaultWriter } from 'node:stream/web'
import * as msg from './messages.js'
import {
  chunkToBytes,
  closeFromInside,
  closeHeldWriter,
  createWritable,
  type SocketWritableStream,
  type WriterOwner,
} from './streams.js'

/** What the write side needs from its socket. */
export interface WriteHost {
  readonly closing: boolean
  readonly closeDone: boolean
  /** The connection (or the StartTLS handshake) failed. */
  readonly failed: boolean
  readonly connected: boolean
  /** The Node socket, if any (writes made before it opened wait for `whenConnected`). */
  readonly node: NodeSocket | undefined
  assertIo(kind: 'Readable' | 'Writable'): void
  /** Resolves when connected; rejects with the writable's error if connecting failed. */
  whenConnected(): Promise<void>
  /** cancel()/abort() calls waiting for their microtask (close() lets them run first). */
  opsInFlight: number
}

const WriteState = {
  Open: 0,
  /** The live connection broke: the first write after it reports the loss, later ones "closed". */
  Lost: 1,
  /** Finished for good (close() completed, or EOF closed it): writes fail "has been closed". */
  Ended: 2,
} as const
type WriteState = (typeof WriteState)[keyof typeof WriteState]

const DEFAULT_WRITABLE_HWM = 1

export class WriteSide implements WriterOwner {
  lastWriter: WritableStreamDefaultWriter<unknown> | undefined
  private readonly host: WriteHost
  readonly highWaterMark: number
  private stream: SocketWritableStream | undefined
  private controller: WritableStreamDefaultController | undefined
  /** How the stream ends if that happens before it exists: an Error (wins), or 'closed'. */
  private replay: Error | 'closed' | undefined
  private state: WriteState = WriteState.Open
  private endedAs: true | Error | undefined
  /** A writer held the stream when close() completed. */
  lockedForGood = false
  /** The reason of an abort (writer.abort() or writable.abort()), once the sink saw it. */
  abortReason: unknown = undefined
  aborted = false
  lossAbort: { reason: unknown } | undefined
  /**
   * Node's stream has run its start step: writes go straight to the sink. Until then they queue,
   * and an abort() fails them before `writer.closed`, where workerd fails `closed` first.
   */
  started = false
  /** The last write made before the stream started, as returned to the caller (see abort()). */
  queuedWrite: Promise<void> | undefined
  /** A releaseLock() held back until the stream started (see the writer's releaseLock()). */
  deferredRelease: (() => void) | undefined
  private pendingWrites = 0
  private flushWaiters: (() => void)[] = []

  constructor(host: WriteHost, highWaterMark: number | undefined) {
    this.host = host
    this.highWaterMark = highWaterMark ?? DEFAULT_WRITABLE_HWM
  }

  get closing(): boolean {
    return this.host.closing
  }
  get closeDone(): boolean {
    return this.host.closeDone
  }
  get failed(): boolean {
    return this.host.failed
  }
  get connected(): boolean {
    return this.host.connected
  }
  get writeSideClosed(): boolean {
    return this.state === WriteState.Ended
  }
  get lost(): boolean {
    return this.state === WriteState.Lost
  }
  /** A lost connection errors workerd's writable only on the next write. */
  get ended(): true | Error | undefined {
    return this.state === WriteState.Lost ? undefined : this.endedAs
  }
  get pendingWriteCount(): number {
    return this.pendingWrites
  }

  assertIo(kind: 'Readable' | 'Writable'): void {
    this.host.assertIo(kind)
  }

  beginOp(): void {
    this.host.opsInFlight++
  }
  endOp(): void {
    this.host.opsInFlight--
  }

  get abortInTurn(): boolean {
    return (
      this.controller !== undefined &&
      this.host.connected &&
      !this.host.failed &&
      !this.host.closeDone &&
      this.state !== WriteState.Lost
    )
  }

  abortNow(reason: unknown): void {
    this.aborted = true
    this.abortReason = reason
    try {
      this.controller?.error(reason)
    } catch {
      // already errored
    }
  }

  abortAfterLoss(reason: unknown): void {
    this.lossAbort ??= { reason }
  }

  get writable(): SocketWritableStream {
    if (this.stream) return this.stream
    const stream = createWritable(
      this,
      {
        start: (controller) => {
          this.controller = controller
          // Runs just before Node's own start reaction (queued right after this call returns), and
          // no other job can run in between: from the next turn on, the stream has started.
          queueMicrotask(this.markStarted)
          if (this.replay instanceof Error) controller.error(this.replay)
        },
        write: (chunk) => this.sinkWrite(chunk),
        close: () => this.sinkClose(),
        abort: (reason) => {
          this.aborted = true
          this.abortReason = reason
        },
      },
      this.highWaterMark
    )
    this.stream = stream
    if (this.replay === 'closed') void closeFromInside(stream, this)
    return stream
  }

  private readonly markStarted = (): void => {
    this.started = true
    this.queuedWrite = undefined
  }

  get locked(): boolean {
    return this.stream?.locked === true && this.deferredRelease === undefined
  }

  markLost(): void {
    if (this.state === WriteState.Open) this.state = WriteState.Lost
  }

  markEnded(): void {
    this.state = WriteState.Ended
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

  /**
   * Writes `bytes` to the connection at once, as the sink would, when the stream has nothing
   * queued or in flight and Node's buffer stays under its high-water mark (the sink then settles
   * the write at once too). Undefined: not taken, the write must take the stream's path.
   */
  writeDirect(bytes: Uint8Array): Promise<void> | undefined {
    if (this.pendingWrites !== 0 || this.state !== WriteState.Open || this.aborted) return undefined
    if (this.endedAs !== undefined || this.controller === undefined || this.host.closing) {
      return undefined
    }
    const node = this.host.node
    if (node === undefined || node.destroyed || node.writableEnded || node.writableNeedDrain) {
      return undefined
    }
    if (node.writableLength + bytes.byteLength >= node.writableHighWaterMark) return undefined
    if (node.write(bytes)) return Promise.resolve()
    // Refused after all: the write failed at once (the peer is gone) and the socket is being
    // destroyed. Settle as the sink's wait does, counted as a write in flight meanwhile.
    const done = this.trackWrite()
    const p = this.awaitDrain(node)
    p.then(done, done)
    return p
  }

  /** Resolves once every write accepted so far has reached the kernel (or failed). */
  flushWrites(): Promise<void> {
    if (this.pendingWrites === 0) return Promise.resolve()
    return new Promise((resolve) => this.flushWaiters.push(resolve))
  }

  /** workerd: a writer held when the connect failed is closed for good. */
  closeHeldWriter(): void {
    if (this.stream?.locked === true && this.lastWriter) closeHeldWriter(this.lastWriter)
  }

  /** The connection was lost: writes already queued report it, so later ones find it closed. */
  onLost(): void {
    this.markLost()
    if (this.pendingWrites > 0) this.closeHeldWriter()
  }

  /** Closes the stream from the socket's side (EOF close), so a held writer's `closed` resolves. */
  closeFromInside(): Promise<void> {
    this.endedAs ??= true
    if (this.stream) return closeFromInside(this.stream, this)
    this.replay ??= 'closed'
    return Promise.resolve()
  }

  error(error: Error): void {
    this.endedAs ??= error
    const controller = this.controller
    if (controller === undefined) {
      if (!(this.replay instanceof Error)) this.replay = error
      return
    }
    try {
      controller.error(error)
    } catch {
      // already errored
    }
  }

  private sinkWrite(chunk: unknown): Promise<void> | void {
    const bytes = chunkToBytes(chunk)
    if (bytes === undefined) return Promise.reject(new TypeError(msg.WRITE_BAD_TYPE))
    if (bytes === null || bytes.byteLength === 0) return
    if (!this.host.connected) return this.host.whenConnected().then(() => this.writeNow(bytes))
    return this.writeNow(bytes)
  }

  private writeNow(bytes: Uint8Array): Promise<void> | undefined {
    const node = this.host.node
    if (node === undefined || node.destroyed || node.writableEnded) {
      return Promise.reject(new Error(msg.CONNECTION_LOST))
    }
    // Node buffers up to its own high-water mark (16 KiB); below it the write is as good as
    // handed to the kernel, so settle now. Above it, wait for the write to drain: that wait is
    // the backpressure the Worker sees through writer.ready. Failures surface via 'error'.
    if (node.write(bytes)) return undefined
    return this.awaitDrain(node)
  }

  /** The sink's backpressure: resolves on 'drain', rejects as lost on 'close'. */
  private awaitDrain(node: NodeSocket): Promise<void> {
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
    // Closed for good from now on (and Node's stream can't take writes once closed).
    this.markEnded()
    // workerd: writer.close() waits for opened (ignoring failure), then half-closes.
    try {
      await this.host.whenConnected()
    } catch {
      return
    }
    // close() called in the same turn wins: workerd fails this writer.close() with its error.
    if (this.host.closing) throw new TypeError(msg.SOCKET_CLOSED)
    const node = this.host.node
    if (node !== undefined && !node.destroyed && !node.writableEnded) {
      await new Promise<void>((resolve) => node.end(resolve))
    }
    this.endedAs ??= true
  }
}
