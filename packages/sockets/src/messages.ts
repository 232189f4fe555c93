// workerd's exact user-visible strings (pinned: workerd 1.20261117.1, `workerd --version` 2026-11-17).
// They are facts we reproduce for compatibility; see docs/errors.md for when each one appears.

export const WORKERD_VERSION = '1.20261117.1'

export const ADDRESS_NULL =
  'Cannot initialize N7workerd3api13SocketAddressE with required members from an undefined or null value.'
export const OPTIONS_NULL =
  'Cannot initialize N7workerd3api13SocketOptionsE with required members from an undefined or null value.'
export const OPTIONS_NOT_OBJECT =
  "Failed to execute 'connect' on 'SocketsModule': parameter 2 is not of type 'SocketOptions'."
export const NOT_INTEGER = 'The value cannot be converted because it is not an integer.'
export const PORT_NEGATIVE =
  'The value cannot be converted because it is negative and this API expects a positive number.'
export const PORT_TOO_LARGE = 'Value out of range. Must be less than or equal to 65535.'
export const HWM_NEGATIVE =
  'The value cannot be converted because it is negative and this API expects a positive bigint.'
export const HWM_BIGINT_NEGATIVE =
  'The value cannot be converted because it is either negative and this API expects a positive bigint, or the value would be truncated.'
export const ADDRESS_UNPARSABLE = 'Specified address could not be parsed.'
export const ADDRESS_NO_HOSTNAME = 'Specified address is missing hostname.'
export const ADDRESS_NO_PORT = 'Specified address is missing port.'
export const ADDRESS_INVALID_HOST =
  'Specified address is empty string, contains unsupported characters or is too long.'
export const unsupportedSecureTransport = (value: string): string =>
  `Unsupported value in secureTransport socket option: ${value}`

export const CONNECT_FAILED = 'proxy request failed, cannot connect to the specified address'
export const HTTP_PORT_HINT =
  '. It looks like you might be trying to connect to a HTTP-based service \u2014 consider using fetch instead'
export const connectFailed = (httpPort: boolean): string =>
  httpPort ? CONNECT_FAILED + HTTP_PORT_HINT : CONNECT_FAILED

export const READABLE_CLOSING = 'This ReadableStream belongs to an object that is closing.'
export const WRITABLE_CLOSING = 'This WritableStream belongs to an object that is closing.'
export const WRITABLE_CLOSED = 'This WritableStream has been closed.'
export const SOCKET_CLOSED = 'This socket has been closed.'
export const SINGLE_PENDING_READ =
  'This ReadableStream only supports a single pending read request at a time.'
export const READABLE_LOCKED = 'This ReadableStream is currently locked to a reader.'
export const WRITABLE_LOCKED = 'This WritableStream is currently locked to a writer.'
export const RELEASE_WITH_PENDING_READ =
  'Cannot call releaseLock() on a reader with outstanding read promises.'
/** A read pending when the reader was cancelled without a reason, or the connect failed. */
export const STREAM_CANCELLED = 'Stream was cancelled.'
export const READER_RELEASED = 'This ReadableStream reader has been released.'
export const WRITER_RELEASED = 'This WritableStream writer has been released.'
export const READABLE_LOCKED_ON_UPGRADE = 'The ReadableStream has been locked to a reader.'
export const BYOB_EMPTY_VIEW =
  'You must call read() on a "byob" reader with a positive-sized TypedArray object.'
export const WRITE_BAD_TYPE =
  'This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.'
export const CONNECTION_LOST = 'Network connection lost.'
export const ILLEGAL_CONSTRUCTOR = 'Illegal constructor'

export const STARTTLS_ON_TLS = 'Cannot startTls on a TLS socket.'
export const STARTTLS_CLOSED = 'The connection was closed before startTls could be started.'
export const STARTTLS_NOT_STARTTLS =
  "The `secureTransport` socket option must be set to 'starttls' for startTls to be used."
export const STARTTLS_TWICE =
  'startTls has already been called on this socket, or the socket was transferred over RPC.'
export const STARTTLS_UNSUPPORTED = 'startTls() is not supported on this connection.'
export const STARTTLS_OPTIONS_NOT_OBJECT =
  "Failed to execute 'startTls' on 'Socket': parameter 1 is not of type 'TlsOptions'."

/** Cloudflare production's message for port 25 (not in workerd; used by the host's policy). */
export const PORT_25_PROHIBITED = 'Connections to port 25 are prohibited'
