/**
 * The contract between `connect()` and an egress policy. The policy resolves and checks; the
 * socket connects to exactly the address the policy returned, never looking the name up again.
 */

/** An allowed connection: connect to `address` (an IP literal) on the requested port. */
export interface EgressAllowed {
  readonly allowed: true
  readonly address: string
  readonly family: 4 | 6
  /** The rule that allowed it, for logs (e.g. `allow category:public`). */
  readonly rule: string
}

/** A refused connection. The Worker sees only workerd's generic failure (or `workerMessage`). */
export interface EgressDenied {
  readonly allowed: false
  /** The rule that decided it (e.g. `deny cidr:10.0.0.0/8`, `deny port:25`). */
  readonly rule: string
  /** Operator-facing explanation. Never shown to the Worker. */
  readonly reason: string
  /** If set, the Worker's error message instead of the generic one (e.g. port 25's). */
  readonly workerMessage?: string
}

export type EgressDecision = EgressAllowed | EgressDenied

export interface EgressPolicy {
  /**
   * Resolves `hostname` (an IP literal or a DNS name, IPv6 without brackets) once, checks every
   * answer, and picks the address to connect to. Must honour `signal` and never hang.
   */
  decide(hostname: string, port: number, signal: AbortSignal): Promise<EgressDecision>
}
