/**
 * Challenge-response over the tunnel's secret, in both directions. The edge sends a fresh random
 * nonce on every connection; the connector answers with its own nonce and an HMAC-SHA256 over
 * both nonces and what it asks for (tunnel, key, role, flow). The edge then proves it knows the
 * secret too. The secret never crosses the wire, and a recorded answer is useless on another
 * connection because the edge's nonce is never reused.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const PROTOCOL = 'wharf-tunnel/1'
export const NONCE_BYTES = 32

export type Role = 'control' | 'data'

export interface ProofFields {
  readonly tunnel: string
  readonly key: string
  readonly role: Role
  /** The flow a data connection carries, and the control session that asked for it. */
  readonly flow: number
  readonly session: string
  readonly edgeNonce: string
  readonly connectorNonce: string
}

export const newNonce = (): string => randomBytes(NONCE_BYTES).toString('base64url')

export function proof(secret: Buffer, side: 'connector' | 'edge', fields: ProofFields): string {
  const text = [
    PROTOCOL,
    side,
    fields.tunnel,
    fields.key,
    fields.role,
    String(fields.flow),
    fields.session,
    fields.edgeNonce,
    fields.connectorNonce,
  ].join('\n')
  return createHmac('sha256', secret).update(text).digest('base64url')
}

/** Constant-time comparison of two proofs. */
export function sameProof(expected: string, received: unknown): boolean {
  if (typeof received !== 'string') return false
  const a = Buffer.from(expected)
  const b = Buffer.from(received)
  return a.length === b.length && timingSafeEqual(a, b)
}
