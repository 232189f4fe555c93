/**
 * `net.Socket` as workerd's `nodejs_compat` gives it: a Node `Duplex` over a `connect()` socket,
 * so every connection passes the installed runtime (dial broker, egress policy, per-request
 * limit). Event order, state getters and errors follow workerd 1.20261117.1.
 *
 * @module
 */
import { Duplex, type DuplexOptions } from 'node:stream'
import { connect as socketsConnect } from '../connect.js'
import type { Socket as SocketsSocket } from '../socket.js'
import { isIP } from './address.js'
import { nodeConnectError, nodeIoError } from './connect-error.js'
import * as E from './errors.js'

/** The connection under a `net.Socket`: a `connect()` socket with its locked reader and writer. */
export interface SocketHandle {
  socket: SocketsSocket
  reader: ReadableStreamBYOBReader
  /** Size of the next read's buffer: grows while reads fill it, shrinks when they don't. */
  readSize: number
  writer: WritableStreamDefaultWriter<unknown>
  /** The read loop should keep going (cleared by `pause()`). */
  reading: boolean
  /** A read loop is running (at most one: the reader takes one pending read at a time). */
  looping: boolean
  /** Handed over to a TLS socket: this socket no longer reads, writes or closes it. */
  detached: boolean
  bytesRead: number
  bytesWritten: number
  host: string
  port: number
}

/** What `remoteAddress`/`remotePort`/`remoteFamily` report, fixed when connecting starts. */
interface PeerInfo {
  address: string
  port: number
  family: 'IPv4' | 'IPv6' | undefined
}

/** workerd reports this fixed local address: a Worker's socket has no meaningful one. */
const LOCAL_ADDRESS = Object.freeze({ address: '240.1.0.1', family: 'IPv4', port: 49152 })

export interface SocketConstructorOptions {
  allowHalfOpen?: boolean
  highWaterMark?: number
  readableHighWaterMark?: number
  writableHighWaterMark?: number
  fd?: number
  objectMode?: boolean
  readableObjectMode?: boolean
  writableObjectMode?: boolean
  keepAliveInitialDelay?: number
  noDelay?: boolean
  keepAlive?: boolean
  signal?: AbortSignal
  timeout?: number
  /** @internal the handle of a socket being wrapped (TLS over an existing socket). */
  handle?: SocketHandle | null
}

export interface TcpConnectOptions {
  port?: number | string
  host?: string
  path?: string
  family?: number
  hints?: number
  localAddress?: string
  localPort?: number
  timeout?: number
  autoSelectFamily?: boolean
  autoSelectFamilyAttemptTimeout?: number
  lookup?: (
    hostname: string,
    options: { family?: number; hints?: number },
    callback: (err: Error | null, address: string, family: number | string) => void
  ) => void
  /** Node-only: extra trusted CA (PEM) for TLS sockets, as `tls.connect`'s `ca`. */
  ca?: string | Buffer | readonly (string | Buffer)[]
}

// Read buffers: small for request/response traffic (a fresh 64 KiB per read costs more than the
// round trip), up to 64 KiB while a bulk transfer keeps filling them. Unzeroed: the read fills
// what it returns, and the rest is never exposed.
const MIN_READ = 4 * 1024
const MAX_READ = 64 * 1024

function nextReadSize(size: number, got: number): number {
  if (got === size) return Math.min(size * 2, MAX_READ)
  if (got < size / 4) return Math.max(size / 2, MIN_READ)
  return size
}

type Callback = (...args: unknown[]) => void
const kNormalized = Symbol('wharf.net.normalizedArgs')
export type NormalizedArgs = [TcpConnectOptions & SocketConstructorOptions, Callback | null] & {
  [kNormalized]?: true
}

function isPipeName(s: unknown): boolean {
  return typeof s === 'string' && !(Number(s) >= 0)
}

/** `net._normalizeArgs`: `(options[, cb])`, `(path[, cb])` or `(port[, host][, cb])`. */
export function normalizeArgs(args: readonly unknown[]): NormalizedArgs {
  let result: NormalizedArgs
  if (args.length === 0) {
    result = [{}, null]
  } else {
    const arg0 = args[0]
    let options: TcpConnectOptions = {}
    if (typeof arg0 === 'object' && arg0 !== null) options = arg0
    else if (typeof arg0 === 'string' && isPipeName(arg0)) options.path = arg0
    else {
      options.port = arg0 as number
      if (args.length > 1 && typeof args[1] === 'string') options.host = args[1]
    }
    const cb = args[args.length - 1]
    result = [options, typeof cb === 'function' ? (cb as Callback) : null]
  }
  result[kNormalized] = true
  return result
}

export class Socket extends Duplex {
  /** The `connect()` socket and its reader/writer; null before `connect()` and after close. */
  _handle: SocketHandle | null = null
  connecting = false
  timeout = 0
  /** `true` on a TLS socket (connects with `secureTransport: 'on'`, or upgrades). */
  encrypted?: boolean
  _hadError = false
  _host: string | null = null
  /** Set by `connect({ ca })` of a TLS socket (Node-only). */
  protected _ca: string[] | undefined
  /** The socket a TLS socket was layered on. */
  _parentWrap: Socket | null = null
  autoSelectFamilyAttemptedAddresses: string[] = []
  #timer: NodeJS.Timeout | undefined
  #peer: PeerInfo | null = null
  #bytesRead = 0
  #bytesWritten = 0
  #aborted = false
  /** Bytes handed to _write while connecting (workerd counts them, not the queue behind). */
  #pendingBytes: number | null = null

  constructor(options?: SocketConstructorOptions | number) {
    if (typeof options === 'number') options = { fd: options }
    const o: SocketConstructorOptions = { ...options }
    if (o.objectMode)
      throw E.invalidArgValue('options.objectMode', o.objectMode, 'is not supported')
    if (o.readableObjectMode || o.writableObjectMode) {
      const name = o.readableObjectMode ? 'readableObjectMode' : 'writableObjectMode'
      throw E.invalidArgValue(`options.${name}`, o[name], 'is not supported')
    }
    if (o.keepAliveInitialDelay !== undefined)
      E.validateNumber(o.keepAliveInitialDelay, 'options.keepAliveInitialDelay')
    // Workers have no file descriptors.
    if (o.fd !== undefined) throw E.optionNotImplemented('options.fd')
    const duplex: DuplexOptions = {
      allowHalfOpen: Boolean(o.allowHalfOpen),
      // `close` is emitted by _destroy itself, with its `hadError` argument, as workerd does.
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
    }
    // workerd's (and Node >= 22's) default of 64 KiB, on every Node version.
    duplex.highWaterMark = o.highWaterMark ?? 64 * 1024
    if (o.readableHighWaterMark !== undefined)
      duplex.readableHighWaterMark = o.readableHighWaterMark
    if (o.writableHighWaterMark !== undefined)
      duplex.writableHighWaterMark = o.writableHighWaterMark
    super(duplex)
    if (o.handle) this._handle = o.handle
    // Writes after the peer's FIN fail with EPIPE unless the socket is half-open.
    this.on('end', onReadableEnd)
    if (o.signal) watchAbort(this, o.signal)
  }

  // ---- connecting ----------------------------------------------------------------------------

  connect(...args: unknown[]): this {
    const normalized =
      Array.isArray(args[0]) && (args[0] as NormalizedArgs)[kNormalized]
        ? (args[0] as NormalizedArgs)
        : normalizeArgs(args)
    const [options, cb] = normalized
    if (this.connecting) throw E.socketConnecting()
    if (this.#aborted) {
      const error = E.abortError()
      if (cb) {
        cb(error)
        return this
      }
      throw error
    }
    if (cb !== null) this.once('connect', cb)
    if (options.port === undefined && options.path == null)
      throw E.missingArgs(['options', 'port', 'path'])
    if (options.path != null) throw E.invalidArgValue('path', options.path, 'is not supported')
    this.#bytesRead = 0
    this.#bytesWritten = 0
    // Reconnecting: the previous connection closes first.
    const previous = this._handle
    if (previous && !previous.socket.upgraded) {
      void previous.socket.close().then(() => this.#initialize(options))
    } else this.#initialize(options)
    return this
  }

  #initialize(options: TcpConnectOptions): void {
    const host = options.host ?? 'localhost'
    const { localAddress, localPort, lookup } = options
    if (localAddress && !isIP(localAddress)) throw E.invalidIpAddress(localAddress)
    if (localPort) E.validateNumber(localPort, 'options.localPort')
    const rawPort = options.port
    if (typeof rawPort !== 'number' && typeof rawPort !== 'string')
      throw E.invalidArgType('options.port', ['number', 'string'], rawPort)
    const port = E.validatePort(rawPort)
    // Accepted (mongodb passes them) and without effect: a Worker cannot pick a family.
    if (options.autoSelectFamily != null)
      E.validateBoolean(options.autoSelectFamily, 'options.autoSelectFamily')
    if (options.autoSelectFamilyAttemptTimeout != null)
      E.validateInt32(
        options.autoSelectFamilyAttemptTimeout,
        'options.autoSelectFamilyAttemptTimeout',
        1
      )
    if (lookup != null) E.validateFunction(lookup, 'options.lookup')
    this.refreshTimer()
    this.connecting = true
    const family = isIP(host)
    if (family === 0 && lookup != null) {
      let answered = false
      lookup(
        host,
        { family: options.family ?? family, hints: options.hints },
        (err, address, fam) => {
          // A lookup that calls back twice must not open a second connection.
          if (answered) return
          answered = true
          this.emit('lookup', err, address, fam, host)
          if (err) {
            this.destroy(err)
            return
          }
          if (isIP(address) === 0) throw E.invalidIpAddress(address)
          if (fam !== 4 && fam !== 6 && fam !== 'IPv4' && fam !== 'IPv6')
            throw E.invalidArgValue('family', fam, 'must be 4 or 6')
          this.#open(address, port, fam === 6 || fam === 'IPv6' ? 6 : 4)
        }
      )
    } else this.#open(host, port, family)
  }

  #open(host: string, port: number, family: number): void {
    this.#peer = {
      address: host,
      port,
      family: family === 4 ? 'IPv4' : family === 6 ? 'IPv6' : undefined,
    }
    const authority = family === 6 ? `[${host}]` : host
    this.autoSelectFamilyAttemptedAddresses = [`${authority}:${port}`]
    this.emit('connectionAttempt', authority, port, family)
    this._host = authority
    try {
      // A Node socket can always be upgraded later, so a plain one is opened as 'starttls'.
      const socket = socketsConnect(`${authority}:${port}`, {
        allowHalfOpen: this.allowHalfOpen,
        secureTransport: this.encrypted ? 'on' : 'starttls',
        ...(this._ca !== undefined ? { ca: this._ca } : {}),
      })
      this._handle = newHandle(socket, authority, port)
      this.attachHandle(this._handle)
    } catch (error) {
      this.destroy(error as Error)
    }
  }

  /** Follows a handle's `opened`/`closed` (also used by TLS for the upgraded socket). */
  protected attachHandle(handle: SocketHandle): void {
    const { socket, host, port } = handle
    socket.opened.then(
      () => this.onOpened(),
      (error: unknown) => {
        const mapped = nodeConnectError(socket, error, host, port)
        this.emit('connectionAttemptFailed', host, port, isIP(host), mapped)
        this.destroy(mapped)
      }
    )
    socket.closed.then(
      () => this.onClosed(handle),
      (error: unknown) => this.destroy(nodeConnectError(socket, error, host, port))
    )
  }

  protected onOpened(): void {
    if (this.destroyed) return
    this.connecting = false
    this.refreshTimer()
    this.emit('connect')
    this.emit('ready')
    if (!this.isPaused()) this.startReading()
  }

  protected onClosed(handle: SocketHandle): void {
    // The plaintext socket's `closed` resolves when startTls() takes the connection over.
    if (handle.socket.upgraded) return
    this.clearTimers()
    // EOF (or a reset) reaches the readable through the read loop, in order after the data.
  }

  // ---- reading -------------------------------------------------------------------------------

  /** Starts the read loop unless one is running (it checks `reading` after every read). */
  startReading(): void {
    const handle = this._handle
    if (!handle) return
    handle.reading = true
    if (handle.looping) return
    handle.looping = true
    void this.#readLoop(handle)
  }

  async #readLoop(handle: SocketHandle): Promise<void> {
    try {
      while (handle.reading && this._handle === handle) {
        const view = Buffer.allocUnsafeSlow(handle.readSize)
        const { value, done } = await handle.reader.read(view)
        if (this.destroyed) break
        this.refreshTimer()
        if (done) {
          this.push(null)
          break
        }
        if (value === undefined || value.byteLength === 0) continue
        handle.readSize = nextReadSize(handle.readSize, value.byteLength)
        handle.bytesRead += value.byteLength
        // The view's buffer was transferred to us by the read: handed on without a copy.
        if (!this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) break
      }
    } catch (error) {
      // A released reader (TLS upgrade) or our own destroy is not a failure; a broken
      // connection is (workerd reports `read ECONNRESET`).
      if (!handle.detached && this._handle === handle && !this.destroyed)
        this.destroy(nodeIoError(handle.socket, error))
    } finally {
      handle.looping = false
      handle.reading = false
    }
  }

  override _read(): void {
    if (this.connecting || !this._handle) {
      this.once('connect', () => this._read())
    } else if (!this._handle.reading) this.startReading()
  }

  override pause(): this {
    if (!this.connecting && this._handle?.reading && !this.destroyed) this._handle.reading = false
    return super.pause()
  }

  override resume(): this {
    if (!this.connecting && this._handle && !this._handle.reading) this.startReading()
    return super.resume()
  }

  // ---- writing -------------------------------------------------------------------------------

  override _write(
    chunk: unknown,
    encoding: BufferEncoding,
    cb: (error?: Error | null) => void
  ): void {
    this.#writeGeneric(toBytes(chunk, encoding), cb)
  }

  override _writev(
    chunks: { chunk: unknown; encoding: BufferEncoding }[],
    cb: (error?: Error | null) => void
  ): void {
    // One write for the batch: fewer trips through the stream machinery.
    this.#writeGeneric(Buffer.concat(chunks.map((c) => toBytes(c.chunk, c.encoding))), cb)
  }

  #writeGeneric(bytes: Uint8Array, cb: (error?: Error | null) => void): void {
    if (this.connecting) {
      this.#pendingBytes = bytes.byteLength
      const onClose = (): void => cb(E.socketClosedBeforeConnection())
      this.once('connect', () => {
        this.off('close', onClose)
        this.#writeGeneric(bytes, cb)
      })
      this.once('close', onClose)
      return
    }
    this.#pendingBytes = null
    const handle = this._handle
    if (!handle) {
      cb(E.socketClosed())
      return
    }
    this.refreshTimer()
    handle.writer.write(bytes).then(
      () => {
        handle.bytesWritten += bytes.byteLength
        this.refreshTimer()
        cb()
      },
      (error: unknown) => {
        this.refreshTimer()
        // Writing after the peer's EOF on a half-open socket is not an error in Node.
        if ((error as Error | null)?.message === 'This WritableStream has been closed.') cb()
        else cb(error as Error)
      }
    )
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (this.connecting) {
      this.once('connect', () => this._final(cb))
      return
    }
    const handle = this._handle
    if (!handle || handle.detached) {
      cb()
      return
    }
    handle.writer.close().then(
      () => cb(),
      // Already closed: the runtime closes the write side itself after the peer's EOF.
      (error: unknown) => cb(alreadyClosed(error) ? null : (error as Error))
    )
  }

  // ---- destroying ----------------------------------------------------------------------------

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    this.connecting = false
    this.clearTimers()
    const handle = this._handle
    const done = (e: Error | null): void => {
      if (handle) {
        this.#bytesRead = handle.bytesRead
        this.#bytesWritten = handle.bytesWritten
      }
      cb(e)
      // After the stream's own 'error' (queued by cb), as workerd orders them.
      process.nextTick(() => this.emit('close', e != null))
    }
    if (handle && !handle.detached && !handle.socket.upgraded) {
      handle.socket.close().then(
        () => done(error),
        (e: unknown) => done((e as Error | null) ?? error)
      )
    } else done(error)
  }

  resetAndDestroy(): this {
    if (this._handle) {
      if (this.connecting) this.once('connect', () => this.destroy())
      else this.destroy()
    } else this.destroy(E.socketClosed())
    return this
  }

  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }

  // ---- timers --------------------------------------------------------------------------------

  setTimeout(msecs: number, callback?: () => void): this {
    if (this.destroyed) return this
    this.timeout = msecs
    const ms = E.timerDuration(msecs, 'msecs')
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (ms === 0) {
      if (callback !== undefined) {
        E.validateFunction(callback, 'callback')
        this.removeListener('timeout', callback)
      }
    } else {
      this.#timer = this.#arm(ms)
      if (callback !== undefined) {
        E.validateFunction(callback, 'callback')
        this.once('timeout', callback)
      }
    }
    return this
  }

  #arm(ms: number): NodeJS.Timeout {
    // Unref'd, as Node's socket timeouts are: an idle timer alone keeps no process alive.
    return setTimeout(() => this.emit('timeout'), ms).unref()
  }

  /** Activity restarts the idle timer (of this socket and the ones it wraps). */
  protected refreshTimer(): void {
    this.#refreshOwn()
    this._parentWrap?.refreshTimer()
  }

  #refreshOwn(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = this.timeout > 0 ? this.#arm(E.timerDuration(this.timeout, 'msecs')) : undefined
  }

  protected clearTimers(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this._parentWrap?.clearTimers()
  }

  // ---- options without effect on Workers -----------------------------------------------------

  /** Accepted and ignored, as on workerd (the platform sets the socket options). */
  setNoDelay(_enable?: boolean): this {
    return this
  }

  /** Accepted and ignored, as on workerd. */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this
  }

  /** A no-op returning `undefined`, as on workerd. */
  ref(): undefined {
    return undefined
  }

  /** A no-op returning `undefined`, as on workerd. */
  unref(): undefined {
    return undefined
  }

  // ---- addresses and counters ----------------------------------------------------------------

  address(): { address: string; family: string; port: number } | Record<string, never> {
    return this._handle === null ? {} : { ...LOCAL_ADDRESS }
  }

  get remoteAddress(): string | undefined {
    return this._handle && this.#peer ? this.#peer.address : undefined
  }

  get remotePort(): number | undefined {
    return this._handle && this.#peer ? this.#peer.port : undefined
  }

  get remoteFamily(): string | undefined {
    return this._handle && this.#peer ? this.#peer.family : undefined
  }

  get localAddress(): string | undefined {
    return this._handle == null ? undefined : LOCAL_ADDRESS.address
  }

  get localPort(): number | undefined {
    return this._handle == null ? undefined : LOCAL_ADDRESS.port
  }

  get localFamily(): string | undefined {
    return this._handle == null ? undefined : LOCAL_ADDRESS.family
  }

  // The counters read as undefined on the prototype itself, as Node's and workerd's do.
  get bytesRead(): number | undefined {
    if (!(#bytesRead in this)) return undefined
    return this._handle ? this._handle.bytesRead : this.#bytesRead
  }

  /** Bytes flushed plus bytes queued (while connecting: the chunk waiting), as workerd counts. */
  get bytesWritten(): number | undefined {
    if (!(#bytesWritten in this)) return undefined
    const flushed = this._handle ? this._handle.bytesWritten : this.#bytesWritten
    if (this.#pendingBytes !== null) return flushed + this.#pendingBytes
    return flushed + this.writableLength
  }

  get _bytesDispatched(): number | undefined {
    if (!(#bytesWritten in this)) return undefined
    return this._handle ? this._handle.bytesWritten : this.#bytesWritten
  }

  get pending(): boolean {
    return !this._handle || this.connecting
  }

  get _connecting(): boolean {
    return this.connecting
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening'
    if (this.readable && this.writable) return 'open'
    if (this.readable && !this.writable) return 'readOnly'
    if (!this.readable && this.writable) return 'writeOnly'
    return 'closed'
  }

  get bufferSize(): number | undefined {
    return this._handle ? this.writableLength : undefined
  }

  /** @internal */
  markAborted(): void {
    this.#aborted = true
  }
}

export function newHandle(socket: SocketsSocket, host: string, port: number): SocketHandle {
  return {
    socket,
    writer: socket.writable.getWriter(),
    reader: socket.readable.getReader({ mode: 'byob' }),
    readSize: MIN_READ,
    reading: false,
    looping: false,
    detached: false,
    bytesRead: 0,
    bytesWritten: 0,
    host,
    port,
  }
}

function alreadyClosed(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null
  return (
    e?.code === 'ERR_INVALID_STATE' ||
    (typeof e?.message === 'string' && /WritableStream (is|has been) closed/.test(e.message))
  )
}

function toBytes(chunk: unknown, encoding: BufferEncoding): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding)
  if (ArrayBuffer.isView(chunk))
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  throw E.invalidArgType('chunk', ['string', 'ArrayBufferView'], chunk)
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this) below
const baseWrite = Socket.prototype.write

function writeAfterFin(
  this: Socket,
  chunk: unknown,
  encoding?: BufferEncoding | ((error?: Error | null) => void),
  cb?: (error?: Error | null) => void
): boolean {
  if (!this.writableEnded) {
    return (baseWrite as (...a: unknown[]) => boolean).call(this, chunk, encoding, cb)
  }
  if (typeof encoding === 'function') cb = encoding
  const error = E.epipe()
  if (typeof cb === 'function') {
    const callback = cb
    queueMicrotask(() => callback(error))
  }
  this.destroy(error)
  return false
}

function onReadableEnd(this: Socket): void {
  if (!this.allowHalfOpen) this.write = writeAfterFin as Socket['write']
}

function watchAbort(socket: Socket, signal: AbortSignal): void {
  if (!(signal instanceof AbortSignal))
    throw E.invalidArgType('options.signal', ['AbortSignal'], signal)
  // As Node: the socket is destroyed with an AbortError (its 'error', then 'close'), and a
  // later connect() fails with one.
  const onAbort = (): void => {
    socket.markAborted()
    socket.destroy(Object.assign(E.abortError(), { cause: signal.reason as unknown }))
  }
  if (signal.aborted) queueMicrotask(onAbort)
  else signal.addEventListener('abort', onAbort, { once: true })
}
