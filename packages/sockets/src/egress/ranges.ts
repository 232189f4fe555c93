/**
 * Address classes. `local`, `private` and `reserved` are workerd's (kj `restrictPeers`) lists,
 * exactly. `special` is Wharf's hardening: blocks IANA marks not globally reachable (or that
 * carry another address inside them) which workerd still counts as `public`. See docs/egress.md.
 */
import { cidr, inCidr, ipv4At, type Cidr, type Ip } from './ip.js'

export interface NamedRange {
  readonly block: Cidr
  readonly name: string
}

const named = (entries: readonly (readonly [string, string])[]): NamedRange[] =>
  entries.map(([text, name]) => ({ block: cidr(text), name }))

/** kj localCidrs(): reachable only from this machine (0.0.0.0 and :: connect to loopback). */
export const LOCAL_RANGES = named([
  ['127.0.0.0/8', 'loopback'],
  ['::1/128', 'loopback'],
  ['0.0.0.0/32', 'unspecified (connects to loopback)'],
  ['::/128', 'unspecified (connects to loopback)'],
])

/** kj privateCidrs(). */
export const PRIVATE_RANGES = named([
  ['10.0.0.0/8', 'private-use (RFC 1918)'],
  ['100.64.0.0/10', 'carrier-grade NAT (RFC 6598)'],
  ['169.254.0.0/16', 'link-local, cloud metadata (RFC 3927)'],
  ['172.16.0.0/12', 'private-use (RFC 1918)'],
  ['192.168.0.0/16', 'private-use (RFC 1918)'],
  ['fc00::/7', 'unique-local (RFC 4193)'],
  ['fe80::/10', 'link-local (RFC 4291)'],
])

/** kj reservedCidrs(): in no category; reachable only through an explicit CIDR rule. */
export const RESERVED_RANGES = named([
  ['192.0.0.0/24', 'IETF protocol assignments (RFC 6890)'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved (RFC 1112)'],
  ['255.255.255.255/32', 'limited broadcast'],
  ['2001::/23', 'IETF protocol assignments incl. Teredo (RFC 2928)'],
  ['ff00::/8', 'multicast'],
])

/** Wharf's additions: not globally reachable, documentation, or tunnelling another address. */
export const SPECIAL_RANGES = named([
  ['0.0.0.0/8', '"this network" (Linux connects it to loopback)'],
  ['192.0.2.0/24', 'documentation TEST-NET-1'],
  ['192.88.99.0/24', 'deprecated 6to4 relay anycast'],
  ['198.18.0.0/15', 'benchmarking (RFC 2544)'],
  ['198.51.100.0/24', 'documentation TEST-NET-2'],
  ['203.0.113.0/24', 'documentation TEST-NET-3'],
  ['::/96', 'IPv4-compatible (deprecated)'],
  ['::ffff:0:0:0/96', 'IPv4-translated (RFC 6145)'],
  ['64:ff9b::/96', 'NAT64 well-known prefix (RFC 6052)'],
  ['64:ff9b:1::/48', 'NAT64 local-use (RFC 8215)'],
  ['100::/64', 'discard-only (RFC 6666)'],
  ['2001:db8::/32', 'documentation (RFC 3849)'],
  ['2002::/16', '6to4 (RFC 3056)'],
  ['3fff::/20', 'documentation (RFC 9637)'],
  ['5f00::/16', 'SRv6 SIDs (RFC 9602)'],
  ['fec0::/10', 'deprecated site-local'],
])

const GLOBAL_UNICAST_V6 = cidr('2000::/3')
const MAPPED = cidr('::ffff:0:0/96')
const COMPATIBLE = cidr('::/96')
const TRANSLATED = cidr('::ffff:0:0:0/96')
const NAT64 = cidr('64:ff9b::/96')
const SIX_TO_FOUR = cidr('2002::/16')
const TEREDO = cidr('2001::/32')

export type AddressClass = 'local' | 'private' | 'reserved' | 'special' | 'public'

export interface Classification {
  readonly class: AddressClass
  /** The range that put it there, e.g. `10.0.0.0/8 private-use (RFC 1918)`. */
  readonly range?: NamedRange
}

function find(ip: Ip, ranges: readonly NamedRange[]): NamedRange | undefined {
  for (const r of ranges) if (inCidr(ip, r.block)) return r
  return undefined
}

const OUTSIDE_GLOBAL_UNICAST: NamedRange = {
  block: cidr('::/0'),
  name: 'outside IPv6 global unicast 2000::/3',
}

/** Classifies one address (IPv4-mapped IPv6 must already be unwrapped, see `addressViews`). */
export function classify(ip: Ip): Classification {
  let range = find(ip, LOCAL_RANGES)
  if (range) return { class: 'local', range }
  range = find(ip, PRIVATE_RANGES)
  if (range) return { class: 'private', range }
  range = find(ip, RESERVED_RANGES)
  if (range) return { class: 'reserved', range }
  range = find(ip, SPECIAL_RANGES)
  if (range) return { class: 'special', range }
  if (ip.family === 6 && !inCidr(ip, GLOBAL_UNICAST_V6)) {
    return { class: 'special', range: OUTSIDE_GLOBAL_UNICAST }
  }
  return { class: 'public' }
}

/**
 * The addresses a connection to `ip` actually reaches, each of which the policy must allow:
 * IPv4-mapped IPv6 is its IPv4 (as in workerd); IPv4-compatible, IPv4-translated, NAT64, 6to4 and
 * Teredo addresses are checked as themselves and as every IPv4 address they carry.
 */
export function addressViews(ip: Ip): Ip[] {
  if (ip.family === 4) return [ip]
  if (inCidr(ip, MAPPED)) return [ipv4At(ip.bytes, 12)]
  const views: Ip[] = [ip]
  if (inCidr(ip, TRANSLATED) || inCidr(ip, NAT64)) views.push(ipv4At(ip.bytes, 12))
  else if (inCidr(ip, COMPATIBLE)) {
    // :: and ::1 are themselves (local); the rest carry an IPv4 address in the low 32 bits.
    const v4 = ipv4At(ip.bytes, 12)
    if (ip.bytes.subarray(0, 15).some((b) => b !== 0) || (ip.bytes[15] ?? 0) > 1) views.push(v4)
  } else if (inCidr(ip, SIX_TO_FOUR)) views.push(ipv4At(ip.bytes, 2))
  else if (inCidr(ip, TEREDO)) views.push(ipv4At(ip.bytes, 4), ipv4At(ip.bytes, 12, 0xff))
  return views
}
