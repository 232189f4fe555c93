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

export function deferred<T>(handled = false): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (reason: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  // An unobserved rejection of opened/closed must never crash the process (workerd marks them handled).
  if (handled) promise.catch(noop)
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(value) {
      if (d.settled) return
      d.settled = true
      resolve(value)
    },
    reject(reason) {
      if (d.settled) return
      d.settled = true
      reject(reason)
    },
  }
  return d
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
const nativeDesiredSize = Object.getOwnPropertyDescriptor(
  WritableStreamDefaultWriter.prototype,
  'desiredSize'
)?.get
const kWriterDone = Symbol('wharf.writer.done')
type MaybeDoneWriter = { [kWriterDone]?: boolean }

/** workerd: a writer held when the connect failed is closed for good ("has been closed"). */
export function closeHeldWriter(writer: WritableStreamDefaultWriter<unknown>): void {
  ;(writer as MaybeDoneWriter)[kWriterDone] = true
}
/* eslint-enable @typescript-eslint/unbound-method */

function socketRead(
  this: OwnedReader,
  native: ReadFn,
  view: ArrayBufferView | undefined,
  byob: boolean
): Promise<unknown> {
  const owner = this[kReaderOwner]
  if (owner.closing) return rejected(new TypeError(msg.READABLE_CLOSING))
  try {
    owner.assertIo('Readable')
  } catch (error) {
    return Promise.reject(error)
  }
  if (owner.pendingRead !== undefined) return rejected(new TypeError(msg.SINGLE_PENDING_READ))
  if (byob && ArrayBuffer.isView(view) && view.byteLength === 0) {
    return rejected(new TypeError(msg.BYOB_EMPTY_VIEW))
  }
  // The core may settle this read itself (close, failure), ahead of the stream machinery.
  const d = deferred<unknown>()
  d.reader = this
  owner.pendingRead = d
  native.call(this, view).then(
    (result) => {
      if (owner.pendingRead === d) owner.pendingRead = undefined
      if (d.detached !== true) d.resolve(result)
    },
    (error: unknown) => {
      if (owner.pendingRead === d) owner.pendingRead = undefined
      if (d.detached !== true) d.reject(error)
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

/** workerd refuses to release a reader while one of its reads is outstanding. */
function releaseLock(this: OwnedReader): void {
  const pending = this[kReaderOwner].pendingRead
  if (pending !== undefined && pending.reader === this) {
    throw new TypeError(msg.RELEASE_WITH_PENDING_READ)
  }
  if (this instanceof ReadableStreamBYOBReader) nativeByobRelease.call(this)
  else nativeDefaultRelease.call(this)
}

const defaultReaderProto = Object.create(ReadableStreamDefaultReader.prototype, {
  releaseLock: { value: releaseLock, writable: true, configurable: true },
  read: {
    value: function read(this: OwnedReader) {
      return socketRead.call(this, nativeDefaultRead, undefined, false)
    },
    writable: true,
    configurable: true,
  },
}) as object

const byobReaderProto = Object.create(ReadableStreamBYOBReader.prototype, {
  releaseLock: { value: releaseLock, writable: true, configurable: true },
  read: {
    value: function read(this: OwnedReader, view: ArrayBufferView) {
      return socketRead.call(this, nativeByobRead, view, true)
    },
    writable: true,
    configurable: true,
  },
  readAtLeast: { value: readAtLeast, writable: true, configurable: true },
}) as object

const writerProto = Object.create(WritableStreamDefaultWriter.prototype, {
  write: {
    value: function write(this: OwnedWriter, chunk?: unknown): Promise<void> {
      const owner = this[kWriterOwner]
      // workerd: after close() completed, or after writer.abort(), the writable is closed.
      if (owner.writeSideClosed || (this as MaybeDoneWriter)[kWriterDone] === true) {
        return rejected(new TypeError(msg.WRITABLE_CLOSED))
      }
      // After a lost connection the first write reports the loss; later ones find it closed.
      if (owner.lost) (this as MaybeDoneWriter)[kWriterDone] = true
      if (owner.closing) return rejected(new TypeError(msg.WRITABLE_CLOSING))
      try {
        owner.assertIo('Writable')
      } catch (error) {
        return Promise.reject(error)
      }
      const bytes = chunkToBytes(chunk)
      // workerd rejects a non-byte chunk but leaves the stream usable.
      if (bytes === undefined) return rejected(new TypeError(msg.WRITE_BAD_TYPE))
      if (bytes === null || bytes.byteLength === 0) return Promise.resolve()
      const done = owner.trackWrite()
      const p = nativeWrite.call(this, bytes)
      p.then(done, done)
      // A write made before the connection opened: if connecting fails, workerd rejects
      // writer.closed before this write. Node's stream does it the other way round, so the
      // write's outcome is passed on one promise turn later.
      return owner.connected ? p : p.then(noop, rethrow)
    },
    writable: true,
    configurable: true,
  },
  close: {
    value: function close(this: OwnedWriter): Promise<void> {
      if ((this as MaybeDoneWriter)[kWriterDone] === true) {
        return rejected(new TypeError(msg.WRITABLE_CLOSED))
      }
      // workerd's writer.close() waits for opened and ignores a failure.
      if (this[kWriterOwner].failed) return Promise.resolve()
      if (this[kWriterOwner].closeDone) return rejected(new TypeError(msg.WRITABLE_CLOSED))
      return nativeClose.call(this)
    },
    writable: true,
    configurable: true,
  },
  abort: {
    value: function abort(this: OwnedWriter, reason?: unknown): Promise<void> {
      ;(this as MaybeDoneWriter)[kWriterDone] = true
      return nativeAbort.call(this, reason)
    },
    writable: true,
    configurable: true,
  },
  desiredSize: {
    // workerd reports 0, never null, once the socket is closed or its connect failed.
    get(this: OwnedWriter): number | null {
      const size = nativeDesiredSize?.call(this) as number | null | undefined
      if (size !== null && size !== undefined) return size
      const owner = this[kWriterOwner]
      return owner.closeDone || owner.failed ? 0 : null
    },
    configurable: true,
  },
}) as object

function adoptReader(owner: ReaderOwner, reader: AnyReader, byob: boolean): void {
  Object.setPrototypeOf(reader, byob ? byobReaderProto : defaultReaderProto)
  ;(reader as OwnedReader)[kReaderOwner] = owner
}

function adoptWriter(owner: WriterOwner, writer: WritableStreamDefaultWriter<unknown>): void {
  Object.setPrototypeOf(writer, writerProto)
  ;(writer as OwnedWriter)[kWriterOwner] = owner
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
    : stream.close()
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
    const reader = super.getReader(options)
    const owner = this[kOwner]
    adoptReader(owner, reader, options?.mode === 'byob')
    return reader
  }
}
Object.defineProperty(SocketReadableStream, 'name', { value: 'ReadableStream' })

/** The socket's writable: accepts bytes and strings, with workerd's errors after close. */
export class SocketWritableStream extends WritableStream<unknown> {
  declare [kOwner]: WriterOwner

  override getWriter(): WritableStreamDefaultWriter<unknown> {
    // After close() completed, workerd keeps the writable locked for good.
    if (this.locked || this[kOwner].closeDone) throw new TypeError(msg.WRITABLE_LOCKED)
    const writer = super.getWriter()
    adoptWriter(this[kOwner], writer)
    return writer
  }
}
Object.defineProperty(SocketWritableStream, 'name', { value: 'WritableStream' })

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
