/**
 * `tls.TLSSocket` and `tls.connect` as workerd's `nodejs_compat` gives them: TLS from the start
 * (`secureTransport: 'on'`) or over an existing `net.Socket` (`{ socket }`, via `startTls()`), as
 * pg and mysql2 upgrade. Options workerd does not support throw its ERR_OPTION_NOT_IMPLEMENTED.
 *
 * @module
 */
import type { Duplex } from 'node:stream'
import * as E from './errors.js'
import {
  Socket,
  newHandle,
  normalizeArgs,
  type SocketConstructorOptions,
  type SocketHandle,
  type TcpConnectOptions,
} from './socket.js'

type Pem = string | Buffer
export interface TlsConnectOptions extends TcpConnectOptions, SocketConstructorOptions {
  socket?: Socket | Duplex
  servername?: string
  /** Node-only in effect: workerd ignores it (its config decides trust); Wharf adds these CAs. */
  ca?: Pem | readonly Pem[]
  rejectUnauthorized?: boolean
  checkServerIdentity?: unknown
  ALPNProtocols?: unknown
  SNICallback?: unknown
  pskCallback?: unknown
  minDHSize?: number
  enableTrace?: boolean
  isServer?: boolean
  server?: unknown
  requestCert?: boolean
  requestOCSP?: boolean
  secureContext?: unknown
  session?: unknown
  handshakeTimeout?: number
  pauseOnConnect?: boolean
}

/** `tls.createSecureContext()`'s result: accepted and without effect, as on workerd. */
export class SecureContext {
  context: Record<string, never> = {}
  constructor(_options?: unknown) {}
}

export function createSecureContext(options?: unknown): SecureContext {
  return new SecureContext(options)
}

function checkUnsupported(o: TlsConnectOptions): void {
  if (o.enableTrace) throw E.optionNotImplemented('options.enableTrace')
  if (o.isServer) throw E.optionNotImplemented('options.isServer')
  if (o.server) throw E.optionNotImplemented('options.server')
  if (o.requestCert) throw E.optionNotImplemented('options.requestCert')
  if (o.rejectUnauthorized === false) throw E.optionNotImplemented('options.rejectUnauthorized')
  if (o.ALPNProtocols !== undefined) throw E.optionNotImplemented('options.ALPNProtocols')
  if (o.SNICallback !== undefined) throw E.optionNotImplemented('options.SNICallback')
  if (o.requestOCSP) throw E.optionNotImplemented('options.requestOCSP')
  if (o.secureContext !== undefined && !(o.secureContext instanceof SecureContext))
    throw E.tlsInvalidContext('context')
  if (o.pskCallback !== undefined) throw E.optionNotImplemented('options.pskCallback')
  if (o.checkServerIdentity !== undefined) {
    E.validateFunction(o.checkServerIdentity, 'options.checkServerIdentity')
    throw E.optionNotImplemented('options.checkServerIdentity')
  }
}

function pemList(ca: Pem | readonly Pem[] | undefined): string[] | undefined {
  if (ca === undefined) return undefined
  const list = (Array.isArray(ca) ? ca : [ca]) as Pem[]
  return list.map((c) => (typeof c === 'string' ? c : c.toString('utf8')))
}

export class TLSSocket extends Socket {
  override encrypted = true
  authorized = false
  authorizationError: Error | null = null
  servername: string | null
  secureConnecting = true
  alpnProtocol = false as const
  _secureEstablished = false
  _tlsOptions: TlsConnectOptions
  #controlReleased = false

  constructor(socket: Socket | Duplex | undefined, options: TlsConnectOptions = {}) {
    const o = { ...options }
    checkUnsupported(o)
    let wrap: Socket | null = null
    if (socket) {
      // workerd wraps other Duplexes in a JS stream; Wharf upgrades only its own net.Socket.
      if (!(socket instanceof Socket))
        throw E.invalidArgType('options.socket', ['net.Socket'], socket)
      wrap = socket
    }
    const base: SocketConstructorOptions = {
      allowHalfOpen: socket ? socket.allowHalfOpen : o.allowHalfOpen,
      handle: wrap?._handle ?? null,
    }
    if (o.highWaterMark !== undefined) base.highWaterMark = o.highWaterMark
    if (o.signal !== undefined) base.signal = o.signal
    super(base)
    this.encrypted = true
    this._tlsOptions = o
    this.servername = o.servername ?? null
    this._ca = pemList(o.ca)
    this._parentWrap = wrap
    // The wrapped socket going away takes this one with it, and (Wharf, as Node does; workerd
    // leaves it open) this one closing closes the wrapped one: pg's Client.end() waits for the
    // 'close' of the socket it created before upgrading.
    if (wrap !== null) {
      wrap.once('close', () => this.destroy())
      this.once('close', () => wrap.destroy())
    }
    this.on('error', (error: Error) => this.#onError(error))
    if (o.handshakeTimeout && o.handshakeTimeout > 0)
      this.setTimeout(o.handshakeTimeout, () => this.#tlsError(E.tlsHandshakeTimeout()))
    // First listener of 'connect': 'secure' (and so 'secureConnect') comes before the user's.
    this.on('connect', () => this.#finishInit())
  }

  #onError(_error: Error): void {
    this._hadError = true
  }

  #tlsError(error: Error): void {
    this.emit('_tlsError', error)
    if (this.#controlReleased) this.emit('error', error)
  }

  /** @internal `tls.connect` hands error reporting to the socket's own listeners. */
  _releaseControl(): boolean {
    if (this.#controlReleased) return false
    this.#controlReleased = true
    return true
  }

  #finishInit(): void {
    if (!this._handle) return
    this._secureEstablished = true
    if (this._tlsOptions.handshakeTimeout && this._tlsOptions.handshakeTimeout > 0)
      this.setTimeout(0)
    this.emit('secure')
  }

  /** @internal Upgrades the wrapped (or own plaintext) connection with `startTls()`. */
  _start(): void {
    if (this.connecting) {
      this.once('connect', () => this._start())
      return
    }
    const parent = this._parentWrap
    if (parent !== null && parent._handle === null) {
      parent.once('connect', () => {
        if (parent._handle !== null) this._handle = parent._handle
        this._start()
      })
      return
    }
    const old = this._handle
    if (old?.socket.secureTransport !== 'starttls') return
    // The plaintext read loop stops; its pending read is rejected by the release (ignored).
    old.reading = false
    old.detached = true
    old.writer.releaseLock()
    old.reader.releaseLock()
    try {
      const tlsOptions: { expectedServerHostname?: string; ca?: string[] } = {}
      if (this.servername != null) tlsOptions.expectedServerHostname = this.servername
      if (this._ca !== undefined) tlsOptions.ca = this._ca
      const secure = old.socket.startTls(tlsOptions)
      const handle: SocketHandle = newHandle(secure, old.host, old.port)
      this._handle = handle
      handle.reading = true
      this.attachHandle(handle)
      // Reading resumes on the TLS socket once it is open (onOpened).
    } catch (error) {
      this.destroy(error as Error)
    }
  }

  setServername(name: string): void {
    E.validateString(name, 'name')
    this.servername = name
  }

  setSession(_session: unknown): void {}

  disableRenegotiation(): void {}

  renegotiate(options: unknown, callback?: unknown): boolean {
    E.validateObject(options, 'options')
    if (callback !== undefined) E.validateFunction(callback, 'callback')
    return false
  }

  setMaxSendFragment(size: number): boolean {
    E.validateInt32(size, 'size')
    return false
  }

  exportKeyingMaterial(length: number, label: string, _context?: Buffer): Buffer {
    E.validateUint32(length, 'length', true)
    E.validateString(label, 'label')
    throw new Error('exportKeyingMaterial is not implemented')
  }

  /** Throws, as on workerd: the peer certificate is not exposed to Workers. */
  getPeerCertificate(_detailed?: boolean): never {
    throw new Error('getPeerCertificate is not implemented')
  }

  getCertificate(): never {
    throw new Error('TLSSocket.getCertificate is not implemented')
  }

  getPeerX509Certificate(): never {
    throw new Error('TLSSocket.getPeerX509Certificate is not implemented')
  }

  getX509Certificate(): never {
    throw new Error('TLSSocket.getX509Certificate is not implemented')
  }

  setKeyCert(_context: unknown): never {
    throw new Error('TLSSocket.setKeyCert is not implemented')
  }

  getCipher(): null {
    return null
  }
  getSharedSigalgs(): null {
    return null
  }
  getEphemeralKeyInfo(): null {
    return null
  }
  getFinished(): null {
    return null
  }
  getPeerFinished(): null {
    return null
  }
  getProtocol(): null {
    return null
  }
  getSession(): null {
    return null
  }
  getTLSTicket(): null {
    return null
  }
  isSessionReused(): null {
    return null
  }
  enableTrace(): null {
    return null
  }
}

/** Arguments as Node's `tls.connect` takes them: `(options[, cb])`, `(port[, host][, options][, cb])`. */
function normalizeConnectArgs(args: readonly unknown[]): [TlsConnectOptions, (() => void) | null] {
  const [options, cb] = normalizeArgs(args)
  const o = options as TlsConnectOptions
  if (args[1] !== null && typeof args[1] === 'object') Object.assign(o, args[1])
  else if (args[2] !== null && typeof args[2] === 'object') Object.assign(o, args[2])
  return [o, cb]
}

function onConnectSecure(this: TLSSocket): void {
  this.authorized = true
  this.secureConnecting = false
  this.emit('secureConnect')
  this.removeListener('end', onConnectEnd)
}

function onConnectEnd(this: TLSSocket): void {
  if (this._hadError) return
  this._hadError = true
  const options = this._tlsOptions
  const error = Object.assign(
    E.connReset('Client network socket disconnected before secure TLS connection was established'),
    {
      path: options.path,
      host: options.host,
      port: options.port,
      localAddress: options.localAddress,
    }
  )
  this.destroy(error)
}

/** `tls.connect`: a `TLSSocket` that connects with TLS, or upgrades `options.socket`. */
export function connect(...args: unknown[]): TLSSocket {
  const [options, cb] = normalizeConnectArgs(args)
  if (options.minDHSize !== undefined) {
    E.validateNumber(options.minDHSize, 'options.minDHSize')
    throw E.optionNotImplemented('options.minDHSize')
  }
  if (options.rejectUnauthorized === false)
    throw E.optionNotImplemented('options.rejectUnauthorized')
  if (options.pskCallback !== undefined) throw E.optionNotImplemented('options.pskCallback')
  if (options.checkServerIdentity !== undefined) {
    E.validateFunction(options.checkServerIdentity, 'options.checkServerIdentity')
    throw E.optionNotImplemented('options.checkServerIdentity')
  }
  const socket = new TLSSocket(options.socket, {
    allowHalfOpen: options.allowHalfOpen,
    ALPNProtocols: options.ALPNProtocols,
    enableTrace: options.enableTrace,
    highWaterMark: options.highWaterMark,
    secureContext: options.secureContext,
    signal: options.signal,
    servername: options.servername,
    ca: options.ca,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    host: options.host,
    port: options.port,
    path: options.path,
    localAddress: options.localAddress,
  })
  if (cb) socket.once('secureConnect', cb)
  if (!options.socket) {
    if (options.timeout) socket.setTimeout(options.timeout)
    socket.connect(options, () => socket._start())
  }
  socket._releaseControl()
  if (options.socket) socket._start()
  socket.on('secure', onConnectSecure)
  socket.prependListener('end', onConnectEnd)
  return socket
}
