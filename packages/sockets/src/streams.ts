/**
 * The socket's Web Streams. They are real `ReadableStream`/`WritableStream` instances (pipeTo,
 * `new Response(readable)` and for-await all work), with readers and writers that add workerd's
 * extra rules on top: one pending read at a time, string writes, the "closing"/"closed" errors
 * after `close()`, and cross-request I/O checks.
 */
import {
  ReadableStream,
  WritableStream,
  type ReadableByteStreamController,
  ReadableStreamBYOBReader,
  ReadableStreamDefaultReader,
  type ReadableStreamReadResult,
  type UnderlyingByteSource,
  type UnderlyingSink,
  type UnderlyingSource,
  WritableStreamDefaultWriter,
} from 'node:stream/web'
import * as msg from './messages.js'
import { skipTransferableCopy } from './untransferable.js'

export type { ReadableByteStreamController }
type ReadableStreamReader<T> = ReadableStreamDefaultReader<T> | ReadableStreamBYOBReader
interface ReadableStreamGetReaderOptions {
  mode?: 'byob' | undefined
}

/** What a socket reader consults: implemented by the socket's read side. */
export interface ReaderOwner {
  /** `close()` was called: reads now fail with the "closing" error. */
  readonly closing: boolean
  assertIo(kind: 'Readable' | 'Writable'): void
  /** The one read in flight through a socket reader; the socket settles it on close/failure. */
  pendingRead: Deferred<unknown> | undefined
  /** How the stream ended so far: `true` closed, an Error errored, undefined still readable. */
  readonly ended: true | Error | undefined
  /** A cancel()/abort() was called and runs on the next microtask (close() lets it go first). */
  beginOp(): void
  endOp(): void
  /** Takes a default reader's read (already `pendingRead`) past the stream, if it can. */
  readDirect(read: Deferred<unknown>): boolean
}

/** What a socket writer consults: implemented by the socket's write side. */
export interface WriterOwner {
  /** `close()` was called: writes now fail with the "closing" error. */
  readonly closing: boolean
  /** The write side is finished (close completed, or EOF auto-close): writes fail "has been closed". */
  readonly writeSideClosed: boolean
  /** The connection failed: `writer.close()` resolves (workerd waits for `opened`, ignoring failure). */
  readonly failed: boolean
  /** close() has completed: the writable can no longer be locked to a new writer. */
  readonly closeDone: boolean
  /** The live connection broke (RST, EPIPE). */
  readonly lost: boolean
  /** The connection is open (writes made before this wait for it). */
  readonly connected: boolean
  assertIo(kind: 'Readable' | 'Writable'): void
  /** The writer that most recently locked the writable (the one holding it, when locked). */
  lastWriter: WritableStreamDefaultWriter<unknown> | undefined
  /** Called for every accepted write; the returned callback when it settles (for flushing). */
  trackWrite(): () => void
  /** How the stream ended so far, as a released writer's `closed` keeps it (see releaseLock). */
  readonly ended: true | Error | undefined
  /** A writer held the stream when close() completed: it stays locked for good. */
  readonly lockedForGood: boolean
  /** Finishes the write side for good (writes fail "has been closed"). */
  markEnded(): void
  readonly highWaterMark: number
  /** Writes in flight or queued (a loss they report makes later writes "has been closed"). */
  readonly pendingWriteCount: number
  /** close() has been called and has not completed, or the socket is open: abort() runs in turn. */
  readonly abortInTurn: boolean
  /** Errors the writable with an abort's reason (writer.closed, queued writes), as abort() does. */
  abortNow(reason: unknown): void
  /** After a loss: abort() errors the writable with its reason (workerd's is not errored yet). */
  abortAfterLoss(reason: unknown): void
  /** The reason of an abort made after a loss: later writes reject with it. */
  readonly lossAbort: { reason: unknown } | undefined
  /** Node's stream has started: until then writes queue in it rather than reach the sink. */
  readonly started: boolean
  /** The last write made before the stream started, as returned to its caller. */
  queuedWrite: Promise<void> | undefined
  /** A releaseLock() waiting for the stream to start; getWriter() runs it first. */
  deferredRelease: (() => void) | undefined
  /** Hands `bytes` straight to the connection when the stream holds nothing (see write()). */
  writeDirect(bytes: Uint8Array): Promise<void> | undefined
  beginOp(): void
  endOp(): void
}

export interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(reason: unknown): void
  settled: boolean
  /** The core took this read over (close): the stream machinery no longer settles it. */
  detached?: boolean
  /** The reader whose read this is (a read in flight pins its reader: no releaseLock). */
  reader?: object
}

/** One class, so every socket's `opened`, `closed` and read share the methods (no closures). */
class SettleOnce<T> implements Deferred<T> {
  readonly promise: Promise<T>
  settled = false
  detached: boolean | undefined = undefined
  reader: object | undefined = undefined
  #resolve!: (value: T) => void
  #reject!: (reason: unknown) => void

  constructor(handled: boolean) {
    this.promise = new Promise<T>((res, rej) => {
      this.#resolve = res
      this.#reject = rej
    })
    // An unobserved rejection of opened/closed must never crash the process (workerd marks them handled).
    if (handled) this.promise.catch(noop)
  }

  resolve(value: T): void {
    if (this.settled) return
    this.settled = true
    this.#resolve(value)
  }

  reject(reason: unknown): void {
    if (this.settled) return
    this.settled = true
    this.#reject(reason)
  }
}

export function deferred<T>(handled = false): Deferred<T> {
  return new SettleOnce<T>(handled)
}

export function noop(): void {}

const kOwner = Symbol('wharf.owner')
const encoder = new TextEncoder()

/** Converts a chunk to bytes as workerd's internal writable does; `undefined` means "reject". */
export function chunkToBytes(chunk: unknown): Uint8Array | null | undefined {
  if (typeof chunk === 'string') return encoder.encode(chunk)
  if (chunk instanceof Uint8Array) return chunk
  if (ArrayBuffer.isView(chunk))
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (chunk instanceof ArrayBuffer || chunk instanceof SharedArrayBuffer)
    return new Uint8Array(chunk)
  if (chunk === undefined) return null
  return undefined
}

function rethrow(error: unknown): never {
  throw error
}

function rejected(error: Error): Promise<never> {
  return Promise.reject(error)
}

/** A promise that rejects on the next microtask (after work queued in this turn settled). */
function rejectedNextTurn(error: Error): Promise<never> {
  return new Promise<never>((_resolve, reject) => queueMicrotask(() => reject(error)))
}

/**
 * A cancel() or abort() waiting for its microtask. releaseLock() runs it at once (workerd's
 * cancel/abort have taken effect by then), and a second abort() settles after it.
 */
const kPendingOp = Symbol('wharf.pendingOp')
interface PendingOp {
  run(): void
  readonly promise: Promise<void>
}
type WithPendingOp = { [kPendingOp]?: PendingOp }

/** Runs `effect` on the next microtask (or earlier, through `run`), then resolves. */
function deferOp(
  target: WithPendingOp,
  owner: { beginOp(): void; endOp(): void },
  effect: () => void
): Promise<void> {
  owner.beginOp()
  let done = false
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  const op: PendingOp = {
    run() {
      if (done) return
      done = true
      owner.endOp()
      if (target[kPendingOp] === op) target[kPendingOp] = undefined
      effect()
    },
    promise,
  }
  target[kPendingOp] = op
  queueMicrotask(() => {
    op.run()
    resolve()
  })
  return promise
}

/** The message workerd gives a non-Error reason (its string conversion). */
function describeReason(reason: unknown): string {
  try {
    return String(reason)
  } catch {
    return ''
  }
}

/** Set on a writer by close(). */
const kCloseCalled = Symbol('wharf.writer.closeCalled')
type CloseCalled = { [kCloseCalled]?: true }

/** Set on a reader or writer by releaseLock(). */
const kReleased = Symbol('wharf.released')
type Released = { [kReleased]?: true }

type AnyReader = ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader
type ReadFn = (
  this: AnyReader,
  view?: ArrayBufferView
) => Promise<ReadableStreamReadResult<Uint8Array>>

const kReaderOwner = Symbol('wharf.reader.owner')
const kWriterOwner = Symbol('wharf.writer.owner')
type OwnedReader = AnyReader & { [kReaderOwner]: ReaderOwner }
type OwnedWriter = WritableStreamDefaultWriter<unknown> & { [kWriterOwner]: WriterOwner }

// The rules live on one shared prototype per reader/writer kind, spliced in above Node's own:
// a per-instance wrapper would cost every socket several closures and a slow-mode object.
/* eslint-disable @typescript-eslint/unbound-method -- the originals are called with .call(this) */
const nativeDefaultRead = ReadableStreamDefaultReader.prototype.read as ReadFn
const nativeByobRead = ReadableStreamBYOBReader.prototype.read as unknown as ReadFn
const nativeWrite = WritableStreamDefaultWriter.prototype.write
const nativeClose = WritableStreamDefaultWriter.prototype.close
const nativeAbort = WritableStreamDefaultWriter.prototype.abort
const nativeWriterRelease = WritableStreamDefaultWriter.prototype.releaseLock
const nativeStreamClose = WritableStream.prototype.close
const nativeDefaultCancel = ReadableStreamDefaultReader.prototype.cancel
const nativeByobCancel = ReadableStreamBYOBReader.prototype.cancel
const nativeDesiredSize = Object.getOwnPropertyDescriptor(
  WritableStreamDefaultWriter.prototype,
  'desiredSize'
)?.get
/**
 * A writer's own state, beyond its stream's: `Done`, closed for good (aborted, held when the
 * connect failed, or a loss already reported); `Late`, taken after close() completed (workerd's
 * writes then fail "closing" and desiredSize is null). One field, so write() checks it once.
 */
const kWriterState = Symbol('wharf.writer.state')
const WriterState = { Done: 1, Late: 2, Released: 3 } as const
type MaybeDoneWriter = { [kWriterState]?: (typeof WriterState)[keyof typeof WriterState] }

/** workerd: a writer held when the connect failed is closed for good ("has been closed"). */
export function closeHeldWriter(writer: WritableStreamDefaultWriter<unknown>): void {
  ;(writer as MaybeDoneWriter)[kWriterState] = WriterState.Done
}
/* eslint-enable @typescript-eslint/unbound-method */

function socketRead(
  this: OwnedReader,
  native: ReadFn,
  view: ArrayBufferView | undefined,
  byob: boolean
): Promise<unknown> {
  const owner = this[kReaderOwner]
  // The request check comes first: a socket used from another request (even one the host closed
  // when its request ended) gets workerd's cross-request error.
  try {
    owner.assertIo('Readable')
  } catch (error) {
    return Promise.reject(error)
  }
  if (owner.closing) {
    return rejected(
      new TypeError(
        (this as Released)[kReleased] === true ? msg.READER_RELEASED : msg.READABLE_CLOSING
      )
    )
  }
  if (owner.pendingRead !== undefined) return rejected(new TypeError(msg.SINGLE_PENDING_READ))
  if (byob && ArrayBuffer.isView(view) && view.byteLength === 0) {
    return rejected(new TypeError(msg.BYOB_EMPTY_VIEW))
  }
  // The core may settle this read itself (close, failure), ahead of the stream machinery.
  const d = deferred<unknown>()
  d.reader = this
  owner.pendingRead = d
  if (!byob && owner.readDirect(d)) return d.promise
  native.call(this, view).then(
    (result) => {
      if (owner.pendingRead === d) owner.pendingRead = undefined
      if (d.detached !== true) d.resolve(result)
    },
    (error: unknown) => {
      if (owner.pendingRead === d) owner.pendingRead = undefined
      // A released reader: workerd's message, not Node's (checked only on this failure path).
      if (d.detached !== true) {
        d.reject(
          (this as Released)[kReleased] === true ? new TypeError(msg.READER_RELEASED) : error
        )
      }
    }
  )
  return d.promise
}

/** workerd's non-standard `readAtLeast(minBytes, view)`: read until at least minBytes arrived. */
async function readAtLeast(
  this: OwnedReader,
  minBytes: number,
  view: ArrayBufferView
): Promise<ReadableStreamReadResult<ArrayBufferView>> {
  const min = Math.min(Math.max(0, Math.trunc(Number(minBytes))), view.byteLength)
  let buffer = view.buffer as ArrayBuffer
  const start = view.byteOffset
  const capacity = view.byteLength
  let filled = 0
  // Each read fills at least one byte or ends the stream, so capacity + 1 bounds the loop.
  for (let i = 0; i < capacity + 1; i++) {
    const part = new Uint8Array(buffer, start + filled, capacity - filled)
    const result = (await socketRead.call(
      this,
      nativeByobRead,
      part,
      true
    )) as ReadableStreamReadResult<Uint8Array>
    if (result.value) {
      buffer = result.value.buffer as ArrayBuffer
      filled += result.value.byteLength
    }
    if (result.done || filled >= min || filled === capacity) {
      return { done: result.done && filled === 0, value: new Uint8Array(buffer, start, filled) }
    }
  }
  return { done: false, value: new Uint8Array(buffer, start, filled) }
}

/* eslint-disable @typescript-eslint/unbound-method -- called with .call(this) */
const nativeDefaultRelease = ReadableStreamDefaultReader.prototype.releaseLock
const nativeByobRelease = ReadableStreamBYOBReader.prototype.releaseLock
/* eslint-enable @typescript-eslint/unbound-method */

/** A released reader's or writer's `stream.ended` at the release (see releasedClosed). */
const kEndedAtRelease = Symbol('wharf.endedAtRelease')
const kClosedAfterRelease = Symbol('wharf.closedAfterRelease')
type ReleasedState = Released & {
  [kEndedAtRelease]?: true | Error | undefined
  [kClosedAfterRelease]?: Promise<void>
}

function keepClosed(target: object, ended: true | Error | undefined): void {
  ;(target as ReleasedState)[kEndedAtRelease] = ended
  ;(target as ReleasedState)[kReleased] = true
}

/**
 * After releaseLock(), workerd keeps a reader's or writer's `closed` as it was when it had already
 * settled, and otherwise rejects it with its own message (Node rejects it anew with its wording).
 * Made on first access: most released readers and writers never look at it, and the error's
 * stack trace and a per-instance property cost every request otherwise.
 */
function closedGetter(
  native: ((this: object) => Promise<void>) | undefined,
  released: string
): (this: object) => Promise<void> | undefined {
  return function closed(this: object) {
    const self = this as ReleasedState
    if (self[kReleased] !== true) return native?.call(this)
    let closed = self[kClosedAfterRelease]
    if (closed === undefined) {
      const ended = self[kEndedAtRelease]
      closed = ended === true ? Promise.resolve() : Promise.reject(ended ?? new TypeError(released))
      closed.catch(noop)
      self[kClosedAfterRelease] = closed
    }
    return closed
  }
}

function nativeClosedGetter(proto: object): ((this: object) => Promise<void>) | undefined {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this)
  return Object.getOwnPropertyDescriptor(proto, 'closed')?.get as
    ((this: object) => Promise<void>) | undefined
}
const readerClosed = closedGetter(
  nativeClosedGetter(ReadableStreamDefaultReader.prototype),
  msg.READER_RELEASED
)
const byobReaderClosed = closedGetter(
  nativeClosedGetter(ReadableStreamBYOBReader.prototype),
  msg.READER_RELEASED
)
const writerClosed = closedGetter(
  nativeClosedGetter(WritableStreamDefaultWriter.prototype),
  msg.WRITER_RELEASED
)

/** workerd refuses to release a reader while one of its reads is outstanding. */
function releaseLock(this: OwnedReader): void {
  const owner = this[kReaderOwner]
  const pending = owner.pendingRead
  if (pending !== undefined && pending.reader === this) {
    throw new TypeError(msg.RELEASE_WITH_PENDING_READ)
  }
  ;(this as WithPendingOp)[kPendingOp]?.run()
  const ended = owner.ended
  if (this instanceof ReadableStreamBYOBReader) nativeByobRelease.call(this)
  else nativeDefaultRelease.call(this)
  keepClosed(this, ended)
}

/**
 * workerd cancels a turn later, in call order with writer.abort(): the reader's `closed` resolves,
 * then this call; a read in flight rejects with the reason later still. Node resolves the reader's
 * `closed` at once and the read with `done`.
 */
function cancel(this: OwnedReader, reason?: unknown): Promise<void> {
  const native = this instanceof ReadableStreamBYOBReader ? nativeByobCancel : nativeDefaultCancel
  const owner = this[kReaderOwner]
  if ((this as Released)[kReleased] === true || owner.ended !== undefined) {
    return native.call(this, reason)
  }
  return deferOp(this as WithPendingOp, owner, () => {
    const pending = owner.pendingRead
    if (pending !== undefined && pending.reader === this) {
      owner.pendingRead = undefined
      pending.detached = true
      // workerd hands the reason over as an Error (a string reason becomes its message).
      const error =
        reason instanceof Error
          ? reason
          : new Error(reason === undefined ? msg.STREAM_CANCELLED : describeReason(reason))
      setImmediate(() => pending.reject(error))
    }
    native.call(this, reason).then(noop, noop)
  })
}

/**
 * A reader's or writer's class with the socket's methods: `create` makes an instance with them from
 * the start. An instance given a new prototype afterwards (`Object.setPrototypeOf`) puts every
 * property added to it later on a map of its own on Node 20's V8: hundreds of bytes per socket, and
 * megamorphic reads of its fields.
 */
function socketClass<T>(
  Native: new (stream: never) => T,
  methods: PropertyDescriptorMap
): { proto: object; create: (stream: unknown) => T } {
  const Socket = class extends (Native as new (stream: never) => object) {}
  Object.defineProperties(Socket.prototype, {
    ...methods,
    // `reader.constructor` stays Node's class.
    constructor: { value: Native, writable: true, configurable: true },
  })
  return { proto: Socket.prototype, create: (stream) => new Socket(stream as never) as T }
}

const socketDefaultReader = socketClass(ReadableStreamDefaultReader<Uint8Array>, {
  closed: { get: readerClosed, enumerable: true, configurable: true },
  releaseLock: { value: releaseLock, writable: true, configurable: true },
  cancel: { value: cancel, writable: true, configurable: true },
  read: {
    value: function read(this: OwnedReader) {
      return socketRead.call(this, nativeDefaultRead, undefined, false)
    },
    writable: true,
    configurable: true,
  },
})
const defaultReaderProto = socketDefaultReader.proto

const socketByobReader = socketClass(ReadableStreamBYOBReader, {
  closed: { get: byobReaderClosed, enumerable: true, configurable: true },
  releaseLock: { value: releaseLock, writable: true, configurable: true },
  cancel: { value: cancel, writable: true, configurable: true },
  read: {
    value: function read(this: OwnedReader, view: ArrayBufferView) {
      return socketRead.call(this, nativeByobRead, view, true)
    },
    writable: true,
    configurable: true,
  },
  readAtLeast: { value: readAtLeast, writable: true, configurable: true },
})
const byobReaderProto = socketByobReader.proto

const socketWriter = socketClass(WritableStreamDefaultWriter<unknown>, {
  closed: { get: writerClosed, enumerable: true, configurable: true },
  write: {
    value: function write(this: OwnedWriter, chunk?: unknown): Promise<void> {
      const owner = this[kWriterOwner]
      // The request check comes first, as for reads.
      try {
        owner.assertIo('Writable')
      } catch (error) {
        return Promise.reject(error)
      }
      const state = (this as MaybeDoneWriter)[kWriterState]
      if (state !== undefined) {
        // Taken after close() completed: workerd still reports the close in progress.
        return rejected(
          new TypeError(
            state === WriterState.Late
              ? msg.WRITABLE_CLOSING
              : state === WriterState.Released
                ? msg.WRITER_RELEASED
                : msg.WRITABLE_CLOSED
          )
        )
      }
      if (owner.closing) {
        if (owner.closeDone) return rejected(new TypeError(msg.WRITABLE_CLOSED))
        // workerd reports the close in progress once per writer; later writes find it closed.
        ;(this as MaybeDoneWriter)[kWriterState] = WriterState.Done
        return rejected(new TypeError(msg.WRITABLE_CLOSING))
      }
      // workerd: after EOF closed it, or writable.close(), the writable is closed.
      if (owner.writeSideClosed) return rejected(new TypeError(msg.WRITABLE_CLOSED))
      // After a lost connection the first write reports the loss; later ones find it closed.
      if (owner.lost) {
        const aborted = owner.lossAbort
        if (aborted !== undefined) return Promise.reject(aborted.reason)
        ;(this as MaybeDoneWriter)[kWriterState] = WriterState.Done
      }
      const bytes = chunkToBytes(chunk)
      // workerd rejects a non-byte chunk but leaves the stream usable.
      if (bytes === undefined) return rejected(new TypeError(msg.WRITE_BAD_TYPE))
      if (bytes === null || bytes.byteLength === 0) return Promise.resolve()
      // Nothing queued or in flight, no close() or abort() under way: the stream would pass the
      // chunk straight to the sink, which writes it and settles at once. Do that without the
      // stream's write request, queue and promise turns.
      if (
        owner.connected &&
        owner.started &&
        (this as CloseCalled)[kCloseCalled] !== true &&
        (this as WithPendingOp)[kPendingOp] === undefined
      ) {
        const direct = owner.writeDirect(bytes)
        if (direct !== undefined) return direct
      }
      const done = owner.trackWrite()
      const p = nativeWrite.call(this, bytes)
      p.then(done, done)
      if (owner.connected && owner.started) return p
      // A write made before the connection opened, or before Node's stream started (it queues):
      // if connecting fails or an abort() fails it, workerd rejects writer.closed before this
      // write. Node's stream does it the other way round, so the write's outcome is passed on one
      // promise turn later. Only a socket's first writes take this path.
      const late = p.then(noop, rethrow)
      if (!owner.started) owner.queuedWrite = late
      return late
    },
    writable: true,
    configurable: true,
  },
  close: {
    value: function close(this: OwnedWriter): Promise<void> {
      if ((this as MaybeDoneWriter)[kWriterState] === WriterState.Done) {
        // workerd: after an abort() in the same turn, this rejects after the abort settled.
        return rejectedNextTurn(new TypeError(msg.WRITABLE_CLOSED))
      }
      const owner = this[kWriterOwner]
      // workerd's writer.close() waits for opened and ignores a failure.
      if (owner.failed) return Promise.resolve()
      if (owner.closeDone) return rejected(new TypeError(msg.WRITABLE_CLOSED))
      // close() in progress: the writer's `closed` rejects first, then this call, alike.
      if (owner.closing) return this.closed.then(noop, rethrow)
      // workerd settles writer.closed before the close() call's own promise.
      ;(this as CloseCalled)[kCloseCalled] = true
      return nativeClose.call(this).then(noop, rethrow)
    },
    writable: true,
    configurable: true,
  },
  abort: {
    value: function abort(this: OwnedWriter, reason?: unknown): Promise<void> {
      const owner = this[kWriterOwner]
      // A second abort() while the first waits for its turn settles right after it.
      const waiting = (this as WithPendingOp)[kPendingOp]
      if (waiting !== undefined) return waiting.promise.then(noop)
      const held = owner.lastWriter === this && (this as Released)[kReleased] !== true
      const state = (this as MaybeDoneWriter)[kWriterState]
      ;(this as MaybeDoneWriter)[kWriterState] = WriterState.Done
      if (held && owner.lost && state === undefined) {
        owner.abortAfterLoss(reason)
        return Promise.resolve()
      }
      if (
        held &&
        owner.abortInTurn &&
        state === undefined &&
        !owner.started &&
        owner.pendingWriteCount > 0 &&
        (this as CloseCalled)[kCloseCalled] !== true
      ) {
        // Writes queued before the stream started: workerd rejects writer.closed, then the
        // writes, then settles this call. Erroring the stream (rather than Node's abort(), which
        // settles itself before writer.closed) fails the writes and writer.closed together once
        // the stream starts; the writes' extra turn (see write()) puts writer.closed first.
        owner.abortNow(reason)
        return (owner.queuedWrite ?? Promise.resolve()).then(noop, noop)
      }
      // A write still queued: Node's abort() fails it now, as workerd does.
      if (!held || !owner.abortInTurn || state !== undefined || owner.pendingWriteCount > 0) {
        return nativeAbort.call(this, reason)
      }
      if ((this as CloseCalled)[kCloseCalled] === true) {
        // A writer.close() still queued: error the stream now, so the close fails with the
        // reason (a microtask later the sink would already be closing), then settle this call.
        owner.abortNow(reason)
        return new Promise<void>((resolve) => queueMicrotask(resolve))
      }
      // workerd errors the writable a turn later, in call order with cancel(): writer.closed
      // rejects, then this resolves. Node's abort() settles the two the other way round.
      return deferOp(this as WithPendingOp, owner, () => owner.abortNow(reason))
    },
    writable: true,
    configurable: true,
  },
  releaseLock: {
    value: function releaseLock(this: OwnedWriter): void {
      const owner = this[kWriterOwner]
      const op = (this as WithPendingOp)[kPendingOp]
      op?.run()
      // While close() runs, workerd's writable is already errored with the close's error.
      const ended = owner.ended ?? (owner.closing ? new TypeError(msg.SOCKET_CLOSED) : undefined)
      if (op !== undefined && !owner.started) {
        // The abort just run errors a stream that has not started yet, and Node fails
        // writer.closed with it only once the stream starts: released now, writer.closed would
        // reject with the release error instead of workerd's abort reason. Release a turn later
        // (this writer already behaves as released), or when a new writer is asked for.
        const release = () => {
          if (owner.deferredRelease !== release) return
          owner.deferredRelease = undefined
          nativeWriterRelease.call(this)
        }
        owner.deferredRelease = release
        queueMicrotask(release)
      } else {
        nativeWriterRelease.call(this)
      }
      // workerd: a writer closed for good (aborted) reports that before the release.
      ;(this as MaybeDoneWriter)[kWriterState] ??= WriterState.Released
      keepClosed(this, ended)
    },
    writable: true,
    configurable: true,
  },
  desiredSize: {
    // workerd reports 0, never null, once the socket is closed or its connect failed.
    get(this: OwnedWriter): number | null {
      const owner = this[kWriterOwner]
      const state = (this as MaybeDoneWriter)[kWriterState]
      if (state === WriterState.Late) return null
      // Closed by EOF or writable.close(): 0 at once (Node's stream may still be closing).
      if (owner.writeSideClosed && !owner.closing) return 0
      // A lost connection errors workerd's writable only on the next write.
      if (owner.lost && state === undefined) return owner.highWaterMark
      const size = nativeDesiredSize?.call(this) as number | null | undefined
      if (size !== null && size !== undefined) return size
      // A writer held when the connect failed reads 0; one taken afterwards null.
      return owner.closeDone || (owner.failed && state === WriterState.Done) ? 0 : null
    },
    configurable: true,
  },
})

function adoptWriter(owner: WriterOwner, writer: WritableStreamDefaultWriter<unknown>): void {
  ;(writer as OwnedWriter)[kWriterOwner] = owner
  if (owner.closeDone) (writer as MaybeDoneWriter)[kWriterState] = WriterState.Late
  owner.lastWriter = writer
}

/**
 * Closes the writable from the socket's side (EOF with allowHalfOpen false), so that a held
 * writer's `closed` resolves as in workerd. A locked stream can only be closed through its writer.
 */
export function closeFromInside(
  stream: WritableStream<unknown>,
  owner: WriterOwner
): Promise<void> {
  const writer = owner.lastWriter
  const closing = stream.locked
    ? writer === undefined
      ? Promise.resolve()
      : nativeClose.call(writer)
    : nativeStreamClose.call(stream)
  return closing.catch(noop)
}

/** The socket's readable: a byte stream whose readers follow workerd's rules. */
export class SocketReadableStream extends ReadableStream<Uint8Array> {
  declare [kOwner]: ReaderOwner

  override getReader(options: { mode: 'byob' }): ReadableStreamBYOBReader
  override getReader(): ReadableStreamDefaultReader<Uint8Array>
  override getReader(options?: ReadableStreamGetReaderOptions): ReadableStreamReader<Uint8Array>
  override getReader(options?: ReadableStreamGetReaderOptions): ReadableStreamReader<Uint8Array> {
    if (this.locked) throw new TypeError(msg.READABLE_LOCKED)
    let reader: AnyReader
    if (options === undefined) reader = socketDefaultReader.create(this)
    else if (options.mode === 'byob') reader = socketByobReader.create(this)
    else {
      // Node validates any other options (a mode it converts to a string, or refuses) here.
      reader = super.getReader(options)
      const byob = reader instanceof ReadableStreamBYOBReader
      Object.setPrototypeOf(reader, byob ? byobReaderProto : defaultReaderProto)
    }
    ;(reader as OwnedReader)[kReaderOwner] = this[kOwner]
    return reader
  }

  /** workerd: iterating after close() was called fails with the "closing" error. */
  override values(options?: { preventCancel?: boolean }): AsyncIterableIterator<Uint8Array> {
    if (this[kOwner].closing && !this.locked) return closingIterator()
    return super.values(options) as AsyncIterableIterator<Uint8Array>
  }

  override [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.values()
  }
}

function closingIterator(): AsyncIterableIterator<Uint8Array> {
  const it: AsyncIterableIterator<Uint8Array> = {
    next: () => rejected(new TypeError(msg.READABLE_CLOSING)),
    return: () => Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]: () => it,
  }
  return it
}
Object.defineProperty(SocketReadableStream, 'name', { value: 'ReadableStream' })
skipTransferableCopy(SocketReadableStream.prototype)

/** The socket's writable: accepts bytes and strings, with workerd's errors after close. */
export class SocketWritableStream extends WritableStream<unknown> {
  declare [kOwner]: WriterOwner

  override getWriter(): WritableStreamDefaultWriter<unknown> {
    // A writer held when close() completed keeps the writable locked for good, as in workerd.
    this[kOwner].deferredRelease?.()
    if (this.locked || this[kOwner].lockedForGood) throw new TypeError(msg.WRITABLE_LOCKED)
    const writer = socketWriter.create(this)
    adoptWriter(this[kOwner], writer)
    return writer
  }

  /** workerd: closing a writable that is already finished (EOF, failure, loss) succeeds. */
  override close(): Promise<void> {
    const owner = this[kOwner]
    if (!this.locked && !owner.closing) {
      if (owner.failed) return Promise.resolve()
      if (owner.writeSideClosed || owner.lost) {
        owner.markEnded()
        return Promise.resolve()
      }
    }
    return super.close()
  }

  /** workerd: aborting a writable that a failure or close() already errored succeeds. */
  override abort(reason?: unknown): Promise<void> {
    const owner = this[kOwner]
    if (!this.locked && owner.lost) {
      owner.abortAfterLoss(reason)
      return Promise.resolve()
    }
    if (!this.locked && owner.ended instanceof Error) return Promise.resolve()
    return super.abort(reason)
  }
}
Object.defineProperty(SocketWritableStream, 'name', { value: 'WritableStream' })
skipTransferableCopy(SocketWritableStream.prototype)

export function createReadable(
  owner: ReaderOwner,
  source: UnderlyingByteSource
): SocketReadableStream {
  const stream = new SocketReadableStream(source as unknown as UnderlyingSource<Uint8Array>, {
    highWaterMark: 0,
  })
  Object.defineProperty(stream, kOwner, { value: owner })
  return stream
}

export function createWritable(
  owner: WriterOwner,
  sink: UnderlyingSink<unknown>,
  highWaterMark: number
): SocketWritableStream {
  const stream = new SocketWritableStream(sink, {
    highWaterMark,
    size: (chunk: unknown) => (chunk as Uint8Array | undefined)?.byteLength ?? 0,
  })
  Object.defineProperty(stream, kOwner, { value: owner })
  return stream
}
