/**
 * `startTls()`: workerd's synchronous checks, then the takeover of the plain connection by a new
 * socket once it is open, its writes flushed and its streams released, and the TLS handshake over
 * it. The old socket's streams stay locked for good; its `closed` resolves after the new socket's
 * `writer.ready` has had a turn (postgres.js reads that order as its secureConnect signal).
 */
import { randomBytes } from 'node:crypto'
import type net from 'node:net'
import tls from 'node:tls'
import { toJsString, type ParsedConnect, type SecureTransport } from './address.js'
import { SocketUpgradeError } from './errors.js'
import * as msg from './messages.js'
import type { Connection } from './connection.js'
import type { ReadSide } from './read-side.js'
import type { SocketTerms } from './runtime.js'
import { noop } from './streams.js'
import { collectCa, tlsClientOptions } from './tls-context.js'
import type { WriteSide } from './write-side.js'

/** Where a socket is in giving its connection to `startTls()`. */
export const Upgrade = {
  None: 0,
  /** startTls() was called (a second call throws "already been called"). */
  Requested: 1,
  /** A turn later: the connection belongs to the new socket (startTls() throws "closed"). */
  Taken: 2,
  /** The old socket's `closed` resolved and the handshake started (`upgraded` is true). */
  Done: 3,
} as const
export type Upgrade = (typeof Upgrade)[keyof typeof Upgrade]

/** The new socket of an upgrade. */
export interface UpgradeTarget<S> {
  readonly socket: S
  fail(cause: unknown): void
  failUpgrade(error: Error, cause?: unknown): void
  upgradeOver(secure: tls.TLSSocket): void
}

/** The socket `startTls()` is called on. */
export interface UpgradeSource<S> {
  readonly parsed: ParsedConnect
  readonly secureTransport: SecureTransport
  readonly terms: SocketTerms
  readonly connection: Connection
  readonly read: ReadSide
  readonly write: WriteSide
  readonly closing: boolean
  /** The connection was closed, lost, failed or taken: startTls can no longer start. */
  readonly gone: boolean
  upgrade: Upgrade
  /** A new socket with `secureTransport: 'on'` sharing this one's terms. */
  spawnSecure(): UpgradeTarget<S>
  /** The plain connection left for the new socket: settle this socket's `closed`. */
  handedOver(): void
  /** Resolves `opened` if it was held back because startTls() came before the connection opened. */
  releaseOpened(): void
}

/** workerd's opaque error for a failed handshake (the cause goes to operators only). */
export function internalError(): Error {
  return new Error(`internal error; reference = ${randomBytes(12).toString('hex')}`)
}

/** workerd's `startTls()`: throws its TypeErrors in its order, else starts the upgrade. */
export function startTls<S>(source: UpgradeSource<S>, options: unknown): S {
  if (
    options !== undefined &&
    options !== null &&
    typeof options !== 'object' &&
    typeof options !== 'function'
  ) {
    throw new TypeError(msg.STARTTLS_OPTIONS_NOT_OBJECT)
  }
  if (source.secureTransport === 'on') throw new TypeError(msg.STARTTLS_ON_TLS)
  if (source.gone) throw new TypeError(msg.STARTTLS_CLOSED)
  if (source.secureTransport === 'off') throw new TypeError(msg.STARTTLS_NOT_STARTTLS)
  if (source.upgrade !== Upgrade.None) throw new TypeError(msg.STARTTLS_TWICE)
  source.upgrade = Upgrade.Requested
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
        : source.parsed.domain
  const next = source.spawnSecure()
  queueMicrotask(() => {
    if (source.upgrade === Upgrade.Requested) source.upgrade = Upgrade.Taken
  })
  void upgradeInto(source, next, name, ca as string | readonly string[] | undefined)
  return next.socket
}

async function upgradeInto<S>(
  source: UpgradeSource<S>,
  next: UpgradeTarget<S>,
  name: string,
  extraCa: string | readonly string[] | undefined
): Promise<void> {
  await source.connection.whenConnected().catch(noop)
  try {
    await takeOver(source, next, name, extraCa)
  } finally {
    source.releaseOpened()
  }
}

async function takeOver<S>(
  source: UpgradeSource<S>,
  next: UpgradeTarget<S>,
  name: string,
  extraCa: string | readonly string[] | undefined
): Promise<void> {
  if (source.connection.failed) {
    next.fail(new SocketUpgradeError('connection failed before startTls'))
    return
  }
  if (source.closing) {
    // workerd: the upgrade finds no connection to take over and fails with an internal error.
    next.failUpgrade(internalError(), new SocketUpgradeError('socket closed before startTls'))
    return
  }
  if (source.write.locked) {
    next.failUpgrade(new TypeError(msg.WRITABLE_LOCKED))
    return
  }
  await source.write.flushWrites()
  if (source.connection.node) await drained(source.connection.node)
  if (source.read.locked) {
    next.failUpgrade(new TypeError(msg.READABLE_LOCKED_ON_UPGRADE))
    return
  }
  // Take both streams for good: the old socket's streams stay locked after the upgrade.
  source.read.readable.getReader()
  source.write.writable.getWriter()
  const plain = source.connection.node
  if (plain === undefined) {
    next.fail(new SocketUpgradeError('no connection to upgrade'))
    return
  }
  plain.removeAllListeners('data')
  plain.removeAllListeners('end')
  plain.removeAllListeners('close')
  plain.removeAllListeners('error')
  plain.on('error', noop)
  plain.pause()
  source.connection.node = undefined
  // Resolve the old `closed` after the new socket's writer.ready has had a turn.
  await new Promise((resolve) => setImmediate(resolve))
  source.upgrade = Upgrade.Done
  source.handedOver()
  if (source.terms.tlsUpgrade === false) {
    plain.destroy()
    next.failUpgrade(
      new Error(msg.STARTTLS_UNSUPPORTED),
      new SocketUpgradeError('the runtime says this connection cannot carry TLS')
    )
    return
  }
  const ca = collectCa(source.terms.ca, source.parsed.node.ca, extraCa)
  const secure = tls.connect({ ...tlsClientOptions(name, ca), socket: plain })
  next.upgradeOver(secure)
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
