/**
 * The socket's read side: its ReadableStream (made on first use), flow control against the Node
 * socket, EOF delivery and the one read in flight. Nothing is read ahead of the application:
 * workerd has no readable buffer, so the Node socket stays paused until a read is waiting.
 */
import type { Socket as NodeSocket } from 'node:net'
import { ReadableStream } from 'node:stream/web'
import {
  createReadable,
  type Deferred,
  type ReadableByteStreamController,
  type ReaderOwner,
  type SocketReadableStream,
} from './streams.js'

/** What the read side needs from its socket. */
export interface ReadHost {
  /** close() was called: reads fail with the "closing" TypeError. */
  readonly closing: boolean
  /** The live connection, once it is open (undefined before, and after a takeover). */
  readonly liveNode: NodeSocket | undefined
  assertIo(kind: 'Readable' | 'Writable'): void
  /** The application has read EOF. */
  onEofRead(): void
  /** cancel()/abort() calls waiting for their microtask (close() lets them run first). */
  opsInFlight: number
}

const ReadState = {
  /** Data flows when a read waits. */
  Open: 0,
  /** The peer's FIN arrived while nobody read; the next pull delivers EOF. */
  EofPending: 1,
  /** EOF reached the stream. */
  Eof: 2,
  /** The application cancelled the stream; the socket stays open. */
  Cancelled: 3,
} as const
type ReadState = (typeof ReadState)[keyof typeof ReadState]

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(stream)
const nativeStreamCancel = ReadableStream.prototype.cancel

/**
 * The field of Node's web streams that holds a stream's state (`disturbed`, `state`): found by
 * its description on a probe stream, undefined when this Node lays streams out otherwise, which
 * turns the direct read path off (every read then goes through the stream).
 */
const kStreamState: symbol | undefined = (() => {
  const probe = new ReadableStream()
  const key = Object.getOwnPropertySymbols(probe).find((k) => k.description === 'kState')
  if (key === undefined) return undefined
  const state = (probe as unknown as Record<symbol, { disturbed?: unknown; state?: unknown }>)[key]
  return state?.disturbed === false && state.state === 'readable' ? key : undefined
})()
type StreamState = { disturbed: boolean; state: string }
type ReadResult = { done: false; value: Uint8Array } | { done: true; value: undefined }

/** Transfers a received chunk into the stream without copying when it owns its whole buffer. */
function ownBytes(chunk: Buffer): Uint8Array {
  if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) {
    return new Uint8Array(chunk.buffer, 0, chunk.byteLength)
  }
  return new Uint8Array(chunk)
}

export class ReadSide implements ReaderOwner {
  pendingRead: Deferred<unknown> | undefined
  private readonly host: ReadHost
  private stream: SocketReadableStream | undefined
  private controller: ReadableByteStreamController | undefined
  /** How the stream ends if that happens before it exists: null = EOF, an Error = errored. */
  private replay: Error | null | undefined
  /** close() ran: the stream, made now or later, is cancelled (see disturb). */
  private disturbed = false
  private state: ReadState = ReadState.Open
  private endedAs: true | Error | undefined
  private paused = true
  /** A pull is waiting for data (set by the stream, cleared by the next chunk or EOF). */
  private pullPending = false
  /** A socket reader's read that the next chunk or EOF settles directly (see readDirect). */
  private direct: Deferred<unknown> | undefined
  /** What the direct read settles with, on the next microtask (see settleDirect). */
  private directResult: ReadResult | undefined

  constructor(host: ReadHost) {
    this.host = host
  }

  get closing(): boolean {
    return this.host.closing
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

  /** The stream is made on first use: an idle socket costs less, and data waits in the kernel. */
  get readable(): SocketReadableStream {
    if (this.stream) return this.stream
    this.stream = createReadable(this, {
      type: 'bytes',
      start: (controller) => {
        this.controller = controller
        if (this.replay === null) controller.close()
        else if (this.replay !== undefined) controller.error(this.replay)
      },
      pull: () => this.pull(),
      cancel: () => this.cancel(),
    })
    if (this.disturbed) void nativeStreamCancel.call(this.stream)
    return this.stream
  }

  /**
   * close(): workerd cancels the readable, so it is disturbed and `new Response(readable)` refuses
   * it. Only an unlocked stream: a held reader keeps its own view (reads fail "closing").
   */
  disturb(): void {
    this.disturbed = true
    const stream = this.stream
    if (stream !== undefined && !stream.locked) void nativeStreamCancel.call(stream)
  }

  get locked(): boolean {
    return this.stream?.locked === true
  }

  get ended(): true | Error | undefined {
    return this.state === ReadState.Cancelled ? true : this.endedAs
  }

  get eofDelivered(): boolean {
    return this.state === ReadState.Eof
  }

  /** The connection opened: resume if a read was already waiting. */
  onConnected(): void {
    if (this.pullPending) this.resume()
  }

  private resume(): void {
    const node = this.host.liveNode
    if (this.paused && node) {
      this.paused = false
      node.resume()
    }
  }

  /**
   * Serves a socket reader's read without the stream machinery, when nothing is queued and the
   * stream is still readable: the next chunk (or EOF) settles `read` itself, which skips the
   * controller's queue, its read request and two promise turns on every read. `read` is already
   * the pending read, so close, failure and cancel settle it as they settle any read. Any other
   * consumer (pipeTo, Response, for-await, a BYOB reader) locks the stream with a native reader
   * and reads through the stream: nothing here changes what it sees, since nothing was queued.
   */
  readDirect(read: Deferred<unknown>): boolean {
    const stream = this.stream
    const controller = this.controller
    if (kStreamState === undefined || stream === undefined || controller === undefined) return false
    if (this.endedAs !== undefined || controller.desiredSize !== 0) return false
    if (this.state !== ReadState.Open && this.state !== ReadState.EofPending) return false
    const state = (stream as unknown as Record<symbol, StreamState>)[kStreamState] as StreamState
    if (state.state !== 'readable') return false
    // A read disturbs the stream (new Response(readable) then refuses it), as a native read does.
    state.disturbed = true
    this.direct = read
    this.pull()
    return true
  }

  /**
   * Hands a chunk or EOF to the direct read, if one is still in flight. It settles a microtask
   * later, when the stream's own read request would have reached the socket reader: close, a
   * failure or a cancel in between takes the read over exactly as before.
   */
  private settleDirect(result: ReadResult): boolean {
    const direct = this.direct
    if (direct === undefined || this.directResult !== undefined) return false
    if (this.pendingRead !== direct) {
      this.direct = undefined
      return false
    }
    this.directResult = result
    queueMicrotask(this.finishDirect)
    return true
  }

  private readonly finishDirect = (): void => {
    const direct = this.direct
    const result = this.directResult
    this.direct = undefined
    this.directResult = undefined
    if (direct === undefined || result === undefined || this.pendingRead !== direct) return
    this.pendingRead = undefined
    if (direct.detached !== true) direct.resolve(result)
  }

  private pull(): void {
    if (this.state === ReadState.EofPending) {
      this.deliverEof()
      return
    }
    this.pullPending = true
    this.resume()
  }

  onData(chunk: Buffer, node: NodeSocket): void {
    if (this.state === ReadState.Cancelled || this.host.closing) return
    this.pullPending = false
    if (this.settleDirect({ done: false, value: ownBytes(chunk) })) return
    const controller = this.controller
    if (controller === undefined) return
    controller.enqueue(ownBytes(chunk))
    // Stop the socket once data is queued without a reader waiting for it.
    if (!this.pullPending && (controller.desiredSize ?? 0) < 0 && !this.paused) {
      this.paused = true
      node.pause()
    }
  }

  onEnd(): void {
    if (this.state === ReadState.Cancelled || this.host.closing) return
    if (this.pullPending) this.deliverEof()
    else this.state = ReadState.EofPending
  }

  private deliverEof(): void {
    this.state = ReadState.Eof
    this.pullPending = false
    this.close()
    this.settleDirect({ done: true, value: undefined })
    this.host.onEofRead()
  }

  private cancel(): void {
    // workerd: cancelling the reader leaves the socket open and writable.
    this.state = ReadState.Cancelled
    this.paused = true
    this.host.liveNode?.pause()
  }

  /** Rejects the read in flight, if any. */
  settlePendingRead(error: Error): void {
    const pending = this.pendingRead
    if (pending) {
      this.pendingRead = undefined
      pending.reject(error)
    }
  }

  /** Takes the read in flight over from the stream machinery (close() rejects it later). */
  takePendingRead(): Deferred<unknown> | undefined {
    const pending = this.pendingRead
    this.pendingRead = undefined
    if (pending) pending.detached = true
    return pending
  }

  close(): void {
    this.endedAs ??= true
    const controller = this.controller
    if (controller === undefined) {
      if (this.replay === undefined) this.replay = null
      return
    }
    try {
      controller.close()
      controller.byobRequest?.respond(0)
    } catch {
      // already closed or errored
    }
  }

  error(error: Error): void {
    this.endedAs ??= error
    const controller = this.controller
    if (controller === undefined) {
      if (this.replay === undefined) this.replay = error
      return
    }
    try {
      controller.error(error)
    } catch {
      // already closed or errored
    }
  }
}
