/**
 * `@wharf/sockets`: the `cloudflare:sockets` API for Node.js, exact to workerd.
 *
 * @module
 */
export { connect, type SocketAddress, type SocketOptions } from './connect.js'
export { Socket, type SocketInfo, type TlsOptions } from './socket.js'
