/**
 * Egress rule syntax (operator input, treated as hostile: bounded and strictly parsed).
 *
 *   public | private | local | network        workerd's categories
 *   10.0.0.0/8 | 192.0.2.7 | fd00::/8 | ::1    CIDR or single address
 *   db.example.com | *.example.com            hostname (exact, or any subdomain)
 *   port:25 | port:8000-8999                  every address on these ports (deny lists only)
 *
 * Any address or hostname rule may end in `:PORT` or `:LOW-HIGH`; IPv6 then goes in brackets:
 * `[fd00::/8]:5432`, `public:443`, `10.1.2.3:5432`.
 */
import { formatCidr, parseCidr, type Cidr } from './ip.js'
import { EgressRuleError } from '../errors.js'

export type Category = 'public' | 'private' | 'local' | 'network'

export type RuleTarget =
  | { readonly kind: 'category'; readonly category: Category }
  | { readonly kind: 'cidr'; readonly block: Cidr }
  | { readonly kind: 'host'; readonly name: string; readonly wildcard: boolean }
  | { readonly kind: 'port' }

export interface Rule {
  readonly effect: 'allow' | 'deny'
  readonly target: RuleTarget
  readonly ports?: { readonly low: number; readonly high: number }
  /** Higher wins; a deny wins a tie (as in workerd). */
  readonly specificity: number
  /** Canonical text for logs: `deny cidr:10.0.0.0/8`, `allow host:*.example.com:443`. */
  readonly label: string
}

export { EgressRuleError }

export const MAX_RULES = 10_000
const MAX_RULE_LENGTH = 300
const CATEGORIES = new Set<string>(['public', 'private', 'local', 'network'])
const PORT = /^[1-9][0-9]{0,4}$/
const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/

function parsePorts(text: string, rule: string): { low: number; high: number } {
  const [lowText = '', highText, extra] = text.split('-')
  const low = PORT.test(lowText) ? Number(lowText) : NaN
  const high = highText === undefined ? low : PORT.test(highText) ? Number(highText) : NaN
  if (extra !== undefined || !(low >= 1 && high <= 65535 && low <= high)) {
    throw new EgressRuleError(rule, 'ports must be N or LOW-HIGH, between 1 and 65535')
  }
  return { low, high }
}

function parseHostPattern(text: string): { name: string; wildcard: boolean } | undefined {
  const wildcard = text.startsWith('*.')
  const name = (wildcard ? text.slice(2) : text).replace(/\.$/, '')
  const labels = name.split('.')
  if (name.length === 0 || name.length > 253 || !labels.every((l) => HOST_LABEL.test(l))) {
    return undefined
  }
  // A name ending in a number is an IPv4 spelling, which no hostname rule may cover.
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(labels[labels.length - 1] ?? '')) return undefined
  return { name, wildcard }
}

/** Parses one rule of an allow or deny list. */
export function parseRule(effect: 'allow' | 'deny', input: unknown): Rule {
  if (typeof input !== 'string') throw new EgressRuleError(String(input), 'rules are strings')
  if (input.length === 0 || input.length > MAX_RULE_LENGTH) {
    throw new EgressRuleError(input, `rules are 1 to ${MAX_RULE_LENGTH} characters`)
  }
  if (/[^\x21-\x7e]/.test(input)) {
    throw new EgressRuleError(input, 'rules are ASCII without spaces')
  }
  const text = input.toLowerCase()
  let body = text
  let portText: string | undefined
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0) throw new EgressRuleError(input, 'unclosed [')
    body = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new EgressRuleError(input, 'expected :PORT after ]')
      portText = rest.slice(1)
    }
  } else if (text.split(':').length === 2) {
    const colon = text.indexOf(':')
    body = text.slice(0, colon)
    portText = text.slice(colon + 1)
  }
  const ports = portText === undefined ? undefined : parsePorts(portText, input)
  const portBonus = ports ? 1 : 0
  const suffix = ports
    ? `:${ports.low === ports.high ? ports.low : `${ports.low}-${ports.high}`}`
    : ''
  const make = (target: RuleTarget, base: number, label: string): Rule => ({
    effect,
    target,
    ...(ports ? { ports } : {}),
    specificity: base * 2 + portBonus,
    label: `${effect} ${label}${suffix}`,
  })

  if (body === 'port') {
    if (!ports) throw new EgressRuleError(input, 'a port rule needs ports: port:25 or port:1-1023')
    if (effect === 'allow') {
      throw new EgressRuleError(
        input,
        'a port-only allow would allow every address, loopback included; write public:PORT or CIDR:PORT'
      )
    }
    return make({ kind: 'port' }, 0, 'port')
  }
  if (CATEGORIES.has(body)) {
    return make({ kind: 'category', category: body as Category }, 0, `category:${body}`)
  }
  if (body === 'unix' || body === 'unix-abstract') {
    throw new EgressRuleError(
      input,
      'connect() cannot reach Unix sockets; the rule would do nothing'
    )
  }
  if (/^[0-9a-f:.]+(?:\/[0-9]+)?$/.test(body) && (body.includes(':') || /^[0-9./]+$/.test(body))) {
    const block = parseCidr(body)
    if (!block) {
      throw new EgressRuleError(
        input,
        'not a canonical IP or CIDR (dotted-quad IPv4 without leading zeros, host bits zero)'
      )
    }
    return make({ kind: 'cidr', block }, block.prefix, `cidr:${formatCidr(block)}`)
  }
  const host = parseHostPattern(body)
  if (!host) throw new EgressRuleError(input, 'not a category, CIDR, hostname or port rule')
  // Exact names beat wildcards; both sit between categories (0) and any CIDR (>= /1).
  return make(
    { kind: 'host', ...host },
    host.wildcard ? 0.25 : 0.375,
    `host:${host.wildcard ? '*.' : ''}${host.name}`
  )
}

/** Parses a whole list, bounding its size. */
export function parseRules(effect: 'allow' | 'deny', list: unknown): Rule[] {
  if (list === undefined) return []
  if (!Array.isArray(list))
    throw new EgressRuleError(typeof list, `${effect} must be a list of strings`)
  if (list.length > MAX_RULES) {
    throw new EgressRuleError(`${list.length} rules`, `at most ${MAX_RULES} ${effect} rules`)
  }
  return list.map((r) => parseRule(effect, r))
}

export function portMatches(rule: Rule, port: number): boolean {
  return !rule.ports || (port >= rule.ports.low && port <= rule.ports.high)
}

export function hostMatches(rule: Rule, name: string | undefined): boolean {
  if (rule.target.kind !== 'host' || name === undefined) return false
  const { name: pattern, wildcard } = rule.target
  return wildcard ? name.endsWith(`.${pattern}`) : name === pattern
}
