/**
 * What the Worker asked for, before any DNS: a canonical IP literal, a DNS name, or something the
 * policy refuses because resolvers would read it differently from us (the classic SSRF bypasses).
 */
import { parseIp, type Ip } from './ip.js'

export type Target =
  | { readonly kind: 'ip'; readonly ip: Ip }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'invalid'; readonly why: string }

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/
/** WHATWG's "ends in a number": such a host is an IPv4 attempt, never a DNS name. */
const NUMERIC_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/

/**
 * Classifies a hostname (IPv6 without brackets). Refused: zone ids, non-ASCII, any IPv4 spelling
 * other than canonical dotted-quad (octal, hex, decimal, shorthand, trailing dot: resolvers and
 * URL parsers read these as IPv4, often differently), and names that are not valid DNS names.
 * One trailing dot on a DNS name is dropped (`localhost.` is `localhost`).
 */
export function parseTarget(hostname: string): Target {
  if (hostname.length === 0) return { kind: 'invalid', why: 'empty hostname' }
  if (hostname.length > 255) return { kind: 'invalid', why: 'hostname longer than 255 characters' }
  if (/[^\x21-\x7e]/.test(hostname)) {
    return { kind: 'invalid', why: 'hostname has non-ASCII, space or control characters' }
  }
  const lower = hostname.toLowerCase()
  if (lower.includes(':')) {
    if (lower.includes('%')) return { kind: 'invalid', why: 'IPv6 zone ids are not allowed' }
    const ip = parseIp(lower)
    return ip ? { kind: 'ip', ip } : { kind: 'invalid', why: 'malformed IPv6 address' }
  }
  const ip = parseIp(lower)
  if (ip) return { kind: 'ip', ip }
  const name = lower.endsWith('.') ? lower.slice(0, -1) : lower
  const labels = name.split('.')
  const last = labels[labels.length - 1] ?? ''
  if (NUMERIC_LABEL.test(last) || labels.every((l) => /^[0-9]+$/.test(l))) {
    return {
      kind: 'invalid',
      why: 'non-canonical IPv4 spelling (octal, hex, decimal, shorthand or trailing dot)',
    }
  }
  if (name.length === 0 || name.length > 253 || !labels.every((l) => LABEL.test(l))) {
    return { kind: 'invalid', why: 'not a valid DNS name' }
  }
  return { kind: 'name', name }
}
