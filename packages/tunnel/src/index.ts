/**
 * `@wharf/tunnel`: private networks for Workers. A connector inside the network dials out to an
 * edge; Worker bindings (`vpc_networks`, `vpc_services`) reach the network through the edge, and
 * the connector's own ingress rules decide what they may reach. See docs/tunnel.md.
 *
 * @module
 */
export { TunnelEdge } from './edge.js'
export type { EdgeKey, EdgeStats, EdgeTunnel, FlowOptions, TunnelEdgeOptions } from './edge.js'
export { TunnelConnector, parseEdge } from './connector.js'
export type { ConnectorState, TunnelConnectorOptions } from './connector.js'
export { parseIngress, resolveTarget } from './ingress.js'
export type { IngressRule, IngressRuleJson, IngressTarget, Lookup } from './ingress.js'
export { formatToken, newToken, parseToken } from './token.js'
export type { TunnelToken } from './token.js'
export { tunnelCommand, TUNNEL_USAGE } from './cli.js'
export {
  TunnelAuthError,
  TunnelConfigError,
  TunnelError,
  TunnelFlowError,
  TunnelIngressDeniedError,
  TunnelLimitError,
  TunnelProtocolError,
  TunnelTokenError,
  TunnelUnavailableError,
} from './errors.js'
