/**
 * The Node-style errors of `node:net` / `node:tls` as workerd's `nodejs_compat` throws them:
 * same class (`Error`, `TypeError`, `RangeError`), same `code`, same message.
 *
 * @module
 */
import { inspect } from 'node:util'

type Ctor = ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor

function make(base: Ctor, code: string, message: string): Error & { code: string } {
  const error = new base(message) as Error & { code: string }
  error.code = code
  return error
}

const received = (value: unknown): string => inspect(value)

/** `The <name> option is not implemented` (an option workerd does not support). */
export const optionNotImplemented = (name: string): Error =>
  make(Error, 'ERR_OPTION_NOT_IMPLEMENTED', `The ${name} option is not implemented`)

export const methodNotImplemented = (name: string): Error =>
  make(Error, 'ERR_METHOD_NOT_IMPLEMENTED', `The ${name} method is not implemented`)

/** workerd's wording: the port's type, not its value, follows "Received". */
export const socketBadPort = (name: string, port: unknown, allowZero: boolean): Error =>
  make(
    Error,
    'ERR_SOCKET_BAD_PORT',
    `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${typeof port}.`
  )

export const invalidArgValue = (name: string, value: unknown, reason = 'is invalid'): Error =>
  make(
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    `The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${received(value)}`
  )

function describeActual(value: unknown): string {
  if (value == null) return ` Received ${String(value)}`
  if (typeof value === 'function') return ` Received function ${value.name}`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name
    return name ? ` Received an instance of ${name}` : ` Received ${inspect(value, { depth: -1 })}`
  }
  let shown = inspect(value, { colors: false })
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return ` Received type ${typeof value} (${shown})`
}

export const invalidArgType = (
  name: string,
  expected: readonly string[],
  actual: unknown
): Error => {
  const kind = name.includes('.') ? 'property' : 'argument'
  const list =
    expected.length > 2
      ? `${expected.slice(0, -1).join(', ')}, or ${expected[expected.length - 1] ?? ''}`
      : expected.join(' or ')
  return make(
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" ${kind} must be of type ${list}.${describeActual(actual)}`
  )
}

export const missingArgs = (names: readonly string[]): Error =>
  make(
    TypeError,
    'ERR_MISSING_ARGS',
    `The ${names.map((n) => `"${n}"`).join(' or ')} argument must be specified`
  )

export const outOfRange = (name: string, range: string, value: unknown): Error =>
  make(
    RangeError,
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`
  )

export const socketClosed = (): Error => make(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed')

export const socketClosedBeforeConnection = (): Error =>
  make(Error, 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'Socket closed before connection established')

export const socketConnecting = (): Error =>
  make(Error, 'ERR_SOCKET_CONNECTING', 'Socket is already connecting')

export const epipe = (): Error =>
  make(Error, 'EPIPE', 'This socket has been ended by the other party')

export const invalidIpAddress = (address: string): Error =>
  make(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${address}`)

export const invalidAddress = (): Error =>
  make(TypeError, 'ERR_INVALID_ADDRESS', 'Invalid socket address')

export const abortError = (): Error =>
  Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' })

export const tlsHandshakeTimeout = (): Error =>
  make(Error, 'ERR_TLS_HANDSHAKE_TIMEOUT', 'TLS handshake timeout')

export const tlsInvalidContext = (field: string): Error =>
  make(TypeError, 'ERR_TLS_INVALID_CONTEXT', `${field} must be a SecureContext`)

export const connReset = (message: string): Error & { code: string } =>
  make(Error, 'ECONNRESET', message)

/**
 * Wharf-only: a `net.Server` cannot listen. workerd 1.20261117.1 accepts `listen()` (a Worker-local
 * listener); Wharf has nothing to accept connections from, so it says so instead of pretending.
 */
export const serverUnsupported = (): Error =>
  make(
    Error,
    'ERR_WHARF_NET_SERVER_UNSUPPORTED',
    'net.Server.listen() is not supported by Wharf: a Worker cannot accept TCP connections'
  )

/** workerd's `tls.Server` / `tls.createServer()`. */
export const tlsServerNotImplemented = (): Error => new Error('Not implemented')

// ---- validators (workerd's, which follow Node's) ----------------------------------------------

export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (port === 0 && !allowZero)
  ) {
    throw socketBadPort(name, port, allowZero)
  }
  return +port | 0
}

export function validateNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, ['number'], value)
}

export function validateFunction(
  value: unknown,
  name: string
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, ['function'], value)
}

export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, ['string'], value)
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, ['boolean'], value)
}

export function validateObject(value: unknown, name: string): asserts value is object {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw invalidArgType(name, ['object'], value)
}

export function validateInt32(
  value: unknown,
  name: string,
  min = -2147483648,
  max = 2147483647
): void {
  if (typeof value !== 'number') throw invalidArgType(name, ['number'], value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
}

export function validateUint32(value: unknown, name: string, positive = false): void {
  if (typeof value !== 'number') throw invalidArgType(name, ['number'], value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  const min = positive ? 1 : 0
  if (value < min || value > 4294967295) throw outOfRange(name, `>= ${min} && <= 4294967295`, value)
}

export function validateOneOf(value: unknown, name: string, oneOf: readonly unknown[]): void {
  if (!oneOf.includes(value)) {
    const allowed = oneOf.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')
    throw invalidArgValue(name, value, `must be one of: ${allowed}`)
  }
}

/** Timer durations as `socket.setTimeout` takes them: a non-negative finite number, capped. */
export function timerDuration(msecs: unknown, name: string): number {
  validateNumber(msecs, name)
  if (msecs < 0 || !Number.isFinite(msecs))
    throw outOfRange(name, 'a non-negative finite number', msecs)
  return Math.min(msecs, 2 ** 31 - 1)
}
