// Types for the `cloudflare:sockets` module on Node, next to @types/node.
// Enable with `"types": ["node", "@wharf/sockets/ambient"]` or
// `/// <reference types="@wharf/sockets/ambient" />`.
declare module 'cloudflare:sockets' {
  export { connect } from '@wharf/sockets'
  export type { Socket, SocketAddress, SocketOptions, SocketInfo, TlsOptions } from '@wharf/sockets'
}
