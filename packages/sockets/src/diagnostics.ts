/**
 * Observability for operators: `node:diagnostics_channel` events and `NODE_DEBUG=wharf-sockets`.
 * The Worker-facing API only ever shows workerd's generic messages; the real reasons go here.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import { debuglog } from 'node:util'

/** Published when `connect()` accepted its arguments: `{ socket, address, secureTransport }`. */
export const connectChannel = diagnosticsChannel.channel('wharf:sockets:connect')
/** Published when the connection (and TLS, if any) is open: `{ socket, address, remoteIp, localPort }`. */
export const connectedChannel = diagnosticsChannel.channel('wharf:sockets:connected')
/** Published when the socket fails: `{ socket, address, error, phase }`; `error` is the real cause. */
export const errorChannel = diagnosticsChannel.channel('wharf:sockets:error')
/** Published once when the socket's connection is gone: `{ socket, address, reason }`. */
export const closeChannel = diagnosticsChannel.channel('wharf:sockets:close')

export const debug = debuglog('wharf-sockets')
