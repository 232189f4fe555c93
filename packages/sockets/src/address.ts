/**
 * `connect()` argument processing, step for step as workerd does it (sockets.c++ `connectImpl`
 * plus JSG's argument conversion), so every bad input throws the same TypeError, in the same order.
 */
import * as msg from './messages.js'

export type SecureTransport = 'off' | 'on' | 'starttls'

/** Node-only options (extras that workerd lacks). */
export interface NodeSocketOptions {
  ca?: string | readonly string[] | undefined
  connectTimeoutMs?: number | undefined
}

export interface ParsedConnect {
  /** `opened.remoteAddress`: the string as given, or `hostname:port` for the object form. */
  readonly addressString: string
  /** TLS name (SNI and certificate check): URL hostname for strings, `hostname` for objects. */
  readonly domain: string
  /** The host to reach, parsed from `addressString` the way kj does; undefined = async failure. */
  readonly target: { readonly host: string; readonly port: number } | undefined
  /** Port 80 or 443: failures get workerd's "consider using fetch" hint. */
  readonly httpPort: boolean
  readonly secureTransport: SecureTransport
  readonly allowHalfOpen: boolean
  readonly highWaterMark: number | undefined
  readonly node: NodeSocketOptions
}

const VALID_HOST_CHARS = /^[A-Za-z0-9\-._[\]:]{1,255}$/

/** ECMAScript ToString, as JSG applies it to string members and arguments. */
export function toJsString(value: unknown): string {
  return String(value)
}

/**
 * Drops the brackets of an IPv6 literal (`[::1]` -> `::1`); anything else is returned as is.
 * The one place this is done: TLS names, dial targets and policy exceptions all use it.
 */
export function unbracketHost(host: string): string {
  return host.length > 1 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function typeError(message: string): TypeError {
  return new TypeError(message)
}

/** JSG's uint16 conversion of `SocketAddress.port`. */
function toPort(value: unknown): number {
  const n = Number(value)
  if (!Number.isFinite(n)) throw typeError(msg.NOT_INTEGER)
  const t = Math.trunc(n)
  if (t < 0) throw typeError(msg.PORT_NEGATIVE)
  if (t > 65535) throw typeError(msg.PORT_TOO_LARGE)
  return t
}

/** JSG's uint64 conversion of `SocketOptions.highWaterMark` (number or bigint). */
function toHighWaterMark(value: unknown): number {
  if (typeof value === 'bigint') {
    if (value < 0n) throw typeError(msg.HWM_BIGINT_NEGATIVE)
    return Number(value)
  }
  const n = Number(value)
  if (!Number.isFinite(n)) throw typeError(msg.NOT_INTEGER)
  if (n < 0) throw typeError(msg.HWM_NEGATIVE)
  return Math.trunc(n)
}

interface RawOptions {
  secureTransport?: unknown
  allowHalfOpen?: unknown
  highWaterMark?: unknown
  ca?: unknown
  connectTimeoutMs?: unknown
}

function convertOptions(options: unknown): RawOptions {
  if (options === undefined) return {}
  if (options === null) throw typeError(msg.OPTIONS_NULL)
  if (typeof options !== 'object' && typeof options !== 'function') {
    throw typeError(msg.OPTIONS_NOT_OBJECT)
  }
  const o = options as Record<string, unknown>
  // JSG reads struct members in declaration order.
  return {
    secureTransport: o.secureTransport,
    allowHalfOpen: o.allowHalfOpen,
    highWaterMark: o.highWaterMark,
    ca: o.ca,
    connectTimeoutMs: o.connectTimeoutMs,
  }
}

function parseSecureTransport(value: unknown): SecureTransport {
  if (value === undefined) return 'off'
  const s = toJsString(value)
  if (s === 'off' || s === 'on' || s === 'starttls') return s
  throw typeError(msg.unsupportedSecureTransport(s))
}

/**
 * kj's `parseAddress("host:port")`: brackets required for IPv6, host non-empty, decimal port.
 * Anything else is not a reachable address and fails asynchronously like a network error.
 */
export function parseTarget(addressString: string): ParsedConnect['target'] {
  let host: string
  let portText: string
  if (addressString.startsWith('[')) {
    const close = addressString.indexOf(']')
    if (close < 0 || addressString[close + 1] !== ':') return undefined
    host = addressString.slice(1, close)
    portText = addressString.slice(close + 2)
    if (!host.includes(':')) return undefined
  } else {
    const colon = addressString.lastIndexOf(':')
    if (colon < 0) return undefined
    host = addressString.slice(0, colon)
    portText = addressString.slice(colon + 1)
    if (host.includes(':') || host.includes('[') || host.includes(']')) return undefined
  }
  if (host === '' || !/^\d{1,16}$/.test(portText)) return undefined
  // Leading zeros are allowed and the port stays decimal (measured: workerd connects
  // `127.0.0.1:07777` to port 7777 and `127.0.0.1:004095` to 4095).
  const port = Number(portText)
  if (port > 65535 || port === 0) return undefined
  return { host, port }
}

const IPV4_LITERAL = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/

/**
 * `a.b.c.d:port` with a port the URL parser accepts (up to 65535): the host and the port's value.
 * Anything else (names, IPv6, out-of-range ports) takes the URL parser's path.
 */
function parseIpv4Literal(addressString: string): { host: string; port: number } | undefined {
  const m = IPV4_LITERAL.exec(addressString)
  if (m === null) return undefined
  const port = Number(m[2])
  return port > 65535 ? undefined : { host: m[1] as string, port }
}

function validateNodeOptions(raw: RawOptions): NodeSocketOptions {
  const node: NodeSocketOptions = {}
  if (raw.ca !== undefined) {
    const ok =
      typeof raw.ca === 'string' ||
      (Array.isArray(raw.ca) && raw.ca.every((c): c is string => typeof c === 'string'))
    if (!ok)
      throw typeError('The ca socket option must be a PEM string or an array of PEM strings.')
    node.ca = raw.ca as string | string[]
  }
  if (raw.connectTimeoutMs !== undefined) {
    const t = raw.connectTimeoutMs
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 2 ** 31 - 1) {
      throw typeError(
        'The connectTimeoutMs socket option must be a positive number of milliseconds.'
      )
    }
    node.connectTimeoutMs = t
  }
  return node
}

/** Validates and normalises `connect()`'s arguments, throwing exactly what workerd throws. */
export function parseConnectArguments(
  argCount: number,
  address: unknown,
  options: unknown
): ParsedConnect {
  // 1. JSG conversion of `address: OneOf<SocketAddress, String>`.
  if (argCount === 0 || address === undefined || address === null) {
    throw typeError(msg.ADDRESS_NULL)
  }
  let addressString: string
  let domain: string
  let httpPort: boolean
  let isObject = false
  let objectHostname = ''
  let objectPort = 0
  if (typeof address === 'object' || typeof address === 'function') {
    const a = address as { hostname?: unknown; port?: unknown }
    objectHostname = toJsString(a.hostname)
    objectPort = toPort(a.port)
    isObject = true
  }
  // 2. JSG conversion of `options`.
  const raw = convertOptions(options)

  let literal: { host: string; port: number } | undefined
  if (isObject) {
    domain = objectHostname
    addressString = `${objectHostname}:${objectPort}`
    httpPort = objectPort === 443 || objectPort === 80
  } else {
    addressString = toJsString(address)
    literal = parseIpv4Literal(addressString)
    if (literal !== undefined) {
      // What the URL parser gives such a string: the host verbatim (a non-special URL's host is
      // opaque) and the port's value. Skips the URL parser on the commonest form.
      domain = literal.host
      httpPort = literal.port === 443 || literal.port === 80
    } else {
      // WHATWG URL parsing with a non-special scheme, as workerd's jsg::Url::tryParse("fake://" + s).
      let url: URL
      try {
        url = new URL('fake://' + addressString)
      } catch {
        throw typeError(msg.ADDRESS_UNPARSABLE)
      }
      if (url.hostname === '') throw typeError(msg.ADDRESS_NO_HOSTNAME)
      if (url.port === '') throw typeError(msg.ADDRESS_NO_PORT)
      domain = url.hostname
      httpPort = url.port === '443' || url.port === '80'
    }
  }
  // 3. The whole host:port string must be short and made of host characters only (a literal is).
  if (literal === undefined && !VALID_HOST_CHARS.test(addressString))
    throw typeError(msg.ADDRESS_INVALID_HOST)
  // 4. secureTransport after the address checks, then the remaining options in order.
  const secureTransport = parseSecureTransport(raw.secureTransport)
  const allowHalfOpen = Boolean(raw.allowHalfOpen)
  const highWaterMark =
    raw.highWaterMark === undefined ? undefined : toHighWaterMark(raw.highWaterMark)
  const node = validateNodeOptions(raw)
  // The TLS name drops IPv6 brackets: it's what a certificate's IP SAN holds.
  const tlsName = unbracketHost(domain)
  return {
    addressString,
    domain: tlsName,
    target:
      literal === undefined ? parseTarget(addressString) : literal.port === 0 ? undefined : literal,
    httpPort,
    secureTransport,
    allowHalfOpen,
    highWaterMark,
    node,
  }
}
