/**
 * `node:net` as workerd's `nodejs_compat` gives it, on `@wharf/sockets`: every connection is a
 * `connect()` socket, so it passes the installed runtime (dial broker, egress policy, limits).
 * The module shape (named exports and the default object) is workerd's.
 *
 * @module
 */
import { BlockList, SocketAddress, isIP, isIPv4, isIPv6 } from './address.js'
import { Server, createServer } from './server.js'
import { Socket as SocketClass, normalizeArgs, type NormalizedArgs } from './socket.js'
import * as E from './errors.js'

/**
 * `net.Socket`, callable without `new` as Node's and workerd's are (`net.Stream({ … })` in old
 * code); `instanceof`, `prototype` and subclassing are the class's.
 */
export const Socket = new Proxy(SocketClass, {
  apply: (target, _this, args: ConstructorParameters<typeof SocketClass>) => new target(...args),
}) as typeof SocketClass & ((...args: ConstructorParameters<typeof SocketClass>) => SocketClass)
export type Socket = SocketClass

/** `net.connect(options[, cb])`, `(port[, host][, cb])`: a `Socket` that is connecting. */
export function connect(...args: unknown[]): Socket {
  const normalized = normalizeArgs(args)
  const options = normalized[0]
  const socket = new SocketClass(options)
  if (options.timeout) socket.setTimeout(options.timeout)
  if (socket.destroyed) return socket
  return socket.connect(normalized satisfies NormalizedArgs)
}

export const createConnection = connect
export const Stream = Socket
export const _normalizeArgs = normalizeArgs

/** Always `false`: a Worker cannot choose the address family. */
export function getDefaultAutoSelectFamily(): boolean {
  return false
}

export function setDefaultAutoSelectFamily(value: unknown): void {
  if (!value) return
  throw E.invalidArgValue('val', value)
}

let autoSelectFamilyAttemptTimeout = 10

/** Kept for compatibility; the value has no effect. */
export function getDefaultAutoSelectFamilyAttemptTimeout(): number {
  return autoSelectFamilyAttemptTimeout
}

export function setDefaultAutoSelectFamilyAttemptTimeout(value: unknown): void {
  E.validateInt32(value, 'val', 1)
  autoSelectFamilyAttemptTimeout = Math.max(value as number, 10)
}

export { BlockList, SocketAddress, Server, createServer, isIP, isIPv4, isIPv6 }

export default {
  BlockList,
  SocketAddress,
  Stream: Socket,
  Server,
  Socket,
  connect,
  createConnection,
  createServer,
  getDefaultAutoSelectFamily,
  setDefaultAutoSelectFamily,
  getDefaultAutoSelectFamilyAttemptTimeout,
  setDefaultAutoSelectFamilyAttemptTimeout,
  isIP,
  isIPv4,
  isIPv6,
  _normalizeArgs,
}
