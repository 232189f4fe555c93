/** Option checks every part of the pool uses: bounded integers and hosts from URLs. */
import { PoolConfigError } from '../errors.js'

/** `value` (a number, or a numeric string from a flag) as an integer in [min, max], or fails. */
export function boundedInt(value: unknown, name: string, min: number, max: number): number {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new PoolConfigError(
      `${name} must be an integer from ${min} to ${max} (got ${String(value)})`
    )
  }
  return n
}

/** A URL's host as an address to connect to: an IPv6 literal without its brackets. */
export function urlHost(url: URL): string {
  const host = url.hostname
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}
