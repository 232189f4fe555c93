/**
 * `node:tls` as workerd's `nodejs_compat` gives it, on `@wharf/sockets`: `connect()` opens a TLS
 * `connect()` socket or upgrades a `net.Socket` with `startTls()`. Servers are not implemented,
 * as on workerd. The module shape (named exports and the default object) is workerd's.
 *
 * @module
 */
import nodeTls from 'node:tls'
import * as E from './errors.js'
import { SecureContext, TLSSocket, connect, createSecureContext } from './tls-socket.js'

export const CLIENT_RENEG_LIMIT = 3
export const CLIENT_RENEG_WINDOW = 600
export const DEFAULT_CIPHERS = nodeTls.DEFAULT_CIPHERS
export const DEFAULT_ECDH_CURVE = 'auto'
export const DEFAULT_MIN_VERSION = 'TLSv1.2'
export const DEFAULT_MAX_VERSION = 'TLSv1.3'
/** Node's bundled roots (what `connect()` trusts by default, besides any `ca`). */
export const rootCertificates = nodeTls.rootCertificates

/** Node's certificate/hostname check (a pure function; no I/O). */
export const checkServerIdentity = nodeTls.checkServerIdentity
export const getCiphers = nodeTls.getCiphers

/** ALPN protocol names to the wire format (length-prefixed), as Node encodes them. */
export function convertALPNProtocols(
  protocols: readonly string[] | Uint8Array,
  out: { ALPNProtocols?: Buffer }
): void {
  if (Array.isArray(protocols)) {
    const parts: Buffer[] = []
    for (const p of protocols as readonly string[]) {
      const bytes = Buffer.from(p)
      if (bytes.length > 255) {
        throw Object.assign(
          new RangeError(
            `The byte length of the protocol at index ${parts.length} exceeds the maximum length. It must be <= 255. Received ${bytes.length}`
          ),
          { code: 'ERR_OUT_OF_RANGE' }
        )
      }
      parts.push(Buffer.from([bytes.length]), bytes)
    }
    out.ALPNProtocols = Buffer.concat(parts)
  } else if (ArrayBuffer.isView(protocols)) {
    out.ALPNProtocols = Buffer.from(protocols)
  }
}

/** Throws `Error('Not implemented')`, as on workerd. */
export function createServer(..._args: unknown[]): never {
  throw E.tlsServerNotImplemented()
}

/** Throws `Error('Not implemented')` when constructed, as on workerd. */
export const Server = function Server(): never {
  throw E.tlsServerNotImplemented()
} as unknown as new (...args: unknown[]) => never

export function createSecurePair(): never {
  throw E.methodNotImplemented('createSecurePair')
}

export { SecureContext, TLSSocket, connect, createSecureContext }

export default {
  SecureContext,
  Server,
  TLSSocket,
  connect,
  createSecureContext,
  createServer,
  checkServerIdentity,
  convertALPNProtocols,
  getCiphers,
  createSecurePair,
  CLIENT_RENEG_LIMIT,
  CLIENT_RENEG_WINDOW,
  DEFAULT_CIPHERS,
  DEFAULT_ECDH_CURVE,
  DEFAULT_MIN_VERSION,
  DEFAULT_MAX_VERSION,
  rootCertificates,
}
