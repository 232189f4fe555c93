/**
 * Tunnel tokens: `wharf-tunnel-1.<tunnel id>.<key id>.<secret>`, the secret 32 random bytes in
 * base64url. The connector holds the whole token; the edge holds the secret under its tunnel and
 * key id. Several key ids per tunnel make rotation possible: add the new key to the edge, move
 * the connectors to the new token, then remove the old key (a connector still using it is
 * refused as stale).
 */
import { randomBytes } from 'node:crypto'
import { TunnelTokenError } from './errors.js'

const PREFIX = 'wharf-tunnel-1'
const ID = /^[A-Za-z0-9_-]{1,64}$/
const SECRET_BYTES = 32

export interface TunnelToken {
  readonly tunnel: string
  readonly key: string
  readonly secret: Buffer
}

export function parseToken(text: string): TunnelToken {
  const parts = text.trim().split('.')
  if (parts.length !== 4 || parts[0] !== PREFIX) {
    throw new TunnelTokenError(`a tunnel token looks like ${PREFIX}.<tunnel>.<key>.<secret>`)
  }
  const [, tunnel = '', key = '', encoded = ''] = parts
  if (!ID.test(tunnel)) throw new TunnelTokenError('the token names an invalid tunnel id')
  if (!ID.test(key)) throw new TunnelTokenError('the token names an invalid key id')
  return { tunnel, key, secret: parseSecret(encoded) }
}

/** A secret as the edge's config holds it (base64url, 32 bytes). */
export function parseSecret(encoded: string): Buffer {
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) throw new TunnelTokenError('the secret is not base64url')
  const secret = Buffer.from(encoded, 'base64url')
  if (secret.length !== SECRET_BYTES) {
    throw new TunnelTokenError(`the secret must be ${SECRET_BYTES} bytes, not ${secret.length}`)
  }
  return secret
}

export function formatToken(token: TunnelToken): string {
  return `${PREFIX}.${token.tunnel}.${token.key}.${token.secret.toString('base64url')}`
}

/** A fresh token for `tunnel` under `key`. */
export function newToken(tunnel: string, key = 'k1'): TunnelToken {
  if (!ID.test(tunnel)) throw new TunnelTokenError('invalid tunnel id')
  if (!ID.test(key)) throw new TunnelTokenError('invalid key id')
  return { tunnel, key, secret: randomBytes(SECRET_BYTES) }
}

export const isTunnelId = (value: string): boolean => ID.test(value)
