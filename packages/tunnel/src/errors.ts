/**
 * Errors of `@wharf/tunnel`, each with a stable `code` (docs/errors.md, "Tunnel"), in undici's
 * style: one base class, one subclass per code.
 */
export class TunnelError extends Error {
  readonly code: string = 'ERR_TUNNEL'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TunnelError'
  }
}

/** A token that is not `wharf-tunnel-1.<tunnel>.<key>.<secret>` with a 32-byte secret. */
export class TunnelTokenError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_TOKEN'
  override readonly name = 'TunnelTokenError'
}

/** An invalid edge, connector or ingress configuration, naming the field. */
export class TunnelConfigError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_CONFIG'
  override readonly name = 'TunnelConfigError'
}

/** The peer failed the challenge-response (wrong, stale or unknown key; replay; wrong edge). */
export class TunnelAuthError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_AUTH'
  override readonly name = 'TunnelAuthError'
}

/** A malformed, oversized or out-of-order message on a tunnel connection. */
export class TunnelProtocolError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_PROTOCOL'
  override readonly name = 'TunnelProtocolError'
}

/** The connector's ingress rules do not allow the target (enforced by the connector). */
export class TunnelIngressDeniedError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_INGRESS_DENIED'
  override readonly name = 'TunnelIngressDeniedError'
}

/** No connector of the tunnel is connected to the edge. */
export class TunnelUnavailableError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_UNAVAILABLE'
  override readonly name = 'TunnelUnavailableError'
}

/** A flow could not be opened: the connector could not reach the target, or timed out. */
export class TunnelFlowError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_FLOW'
  override readonly name = 'TunnelFlowError'
  /** The code the connector refused the flow with (e.g. `ERR_TUNNEL_INGRESS_DENIED`), if any. */
  readonly connectorCode?: string
  constructor(message: string, options?: { cause?: unknown; connectorCode?: string }) {
    super(message, options)
    if (options?.connectorCode !== undefined) this.connectorCode = options.connectorCode
  }
}

/** Too many flows for the tunnel, or too many connections waiting to authenticate. */
export class TunnelLimitError extends TunnelError {
  override readonly code = 'ERR_TUNNEL_LIMIT'
  override readonly name = 'TunnelLimitError'
}
