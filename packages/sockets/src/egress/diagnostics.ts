/**
 * Operator-facing observability of egress decisions. A denial's rule and reason go here and to
 * `NODE_DEBUG=wharf-sockets`, never to the Worker.
 */
import diagnosticsChannel from 'node:diagnostics_channel'

export { debug } from '../diagnostics.js'

/** Published for every denial: `{ hostname, port, address?, rule, reason }`. */
export const deniedChannel = diagnosticsChannel.channel('wharf:sockets:egress-denied')
