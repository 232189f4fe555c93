/**
 * The egress policy: resolve once, check every answer against the rules, and hand `connect()` the
 * exact address that was checked, so DNS rebinding has no second lookup to win.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { PORT_25_PROHIBITED } from '../messages.js'
import { deniedChannel, debug } from './diagnostics.js'
import { parseTarget } from './hostname.js'
import { formatIp, inCidr, parseIp, type Ip } from './ip.js'
import { addressViews, classify, type Classification } from './ranges.js'
import { hostMatches, parseRule, parseRules, portMatches, type Rule } from './rules.js'
import type { EgressDecision, EgressDenied, EgressPolicy } from './types.js'
import { EgressConfigError, EgressDnsTimeoutError } from '../errors.js'

/** One DNS answer, as `dns.lookup(name, { all: true })` returns it. */
export interface LookupAnswer {
  readonly address: string
  readonly family: number
}

/** Resolves a name. Must honour `signal`; answers are checked, never trusted. */
export type Resolver = (hostname: string, signal: AbortSignal) => Promise<readonly LookupAnswer[]>

export interface EgressPolicyOptions {
  /** Extra allow rules, added to the default `public` (see docs/egress.md for the syntax). */
  readonly allow?: readonly string[]
  /** Deny rules. `deny public` turns the default into an allowlist. */
  readonly deny?: readonly string[]
  /** Refuse a name if any of its answers is denied (default: use the first allowed answer). */
  readonly strictMultiAnswer?: boolean
  /** Allow port 25 (SMTP), which is otherwise refused with Cloudflare's message. */
  readonly allowPort25?: boolean
  /** DNS resolver; default `dns.lookup` with `{ all: true, verbatim: true }`. */
  readonly resolve?: Resolver
  /** How long one resolution may take (default 5000 ms). */
  readonly dnsTimeoutMs?: number
}

/** Cloud metadata endpoints: denied whatever else is allowed (a CIDR allow can only tie). */
const METADATA = [
  '169.254.169.254/32',
  '169.254.170.2/32',
  '100.100.100.200/32',
  'fd00:ec2::254/128',
]
/** Answers considered per name: enough for any real service, bounded against hostile DNS. */
const MAX_ANSWERS = 32
const DEFAULT_DNS_TIMEOUT_MS = 5000

const defaultResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/** The verdict on one address view: allowed by a rule, or denied with the rule and why. */
type Verdict = { ok: true; rule: string } | { ok: false; rule: string; reason: string }

function describe(c: Classification): string {
  return c.range ? `${c.class} address (${c.range.name})` : `${c.class} address`
}

function categoryMatches(rule: Rule, c: Classification): boolean {
  if (rule.target.kind !== 'category') return false
  const k = c.class
  switch (rule.target.category) {
    case 'public':
      return k === 'public'
    case 'network':
      return k === 'public' || k === 'private'
    case 'local':
      return k === 'local'
    case 'private':
      // As in workerd: allowing private includes local; denying private does not.
      return k === 'private' || (rule.effect === 'allow' && k === 'local')
  }
}

function matches(rule: Rule, view: Ip, c: Classification, port: number, name?: string): boolean {
  if (!portMatches(rule, port)) return false
  switch (rule.target.kind) {
    case 'port':
      return true
    case 'category':
      return categoryMatches(rule, c)
    case 'cidr':
      return inCidr(view, rule.target.block)
    case 'host':
      // A hostname allow vouches for the name, never for where it points: public answers only.
      return rule.effect === 'allow' && c.class === 'public' && hostMatches(rule, name)
  }
}

function best(rules: readonly Rule[], view: Ip, c: Classification, port: number, name?: string) {
  let found: Rule | undefined
  for (const rule of rules) {
    if ((!found || rule.specificity > found.specificity) && matches(rule, view, c, port, name)) {
      found = rule
    }
  }
  return found
}

/** Builds a policy. Throws `EgressRuleError` (code `ERR_EGRESS_RULE`) for any bad rule. */
export function createEgressPolicy(options: EgressPolicyOptions = {}): EgressPolicy {
  const allow = [parseRule('allow', 'public'), ...parseRules('allow', options.allow)]
  const deny = [
    ...(options.allowPort25 === true ? [] : [parseRule('deny', 'port:25')]),
    ...METADATA.map((m) => ({ ...parseRule('deny', m), label: `deny metadata:${m}` })),
    ...parseRules('deny', options.deny),
  ]
  const hostDenies = deny.filter((r) => r.target.kind === 'host')
  const portDenies = deny.filter((r) => r.target.kind === 'port')
  if (options.dnsTimeoutMs !== undefined) {
    const t = options.dnsTimeoutMs
    if (!Number.isInteger(t) || t < 1 || t > 120_000) {
      throw new EgressConfigError('dnsTimeoutMs must be an integer between 1 and 120000')
    }
  }
  const resolve = options.resolve ?? defaultResolver
  const dnsTimeoutMs = options.dnsTimeoutMs ?? DEFAULT_DNS_TIMEOUT_MS
  const strict = options.strictMultiAnswer === true

  function judgeView(view: Ip, port: number, name?: string): Verdict {
    const c = classify(view)
    const a = best(allow, view, c, port, name)
    let d = best(deny, view, c, port, name)
    // A port-only deny (`port:25`) yields only to an allow that names the port itself: allowing
    // a host or range for everything must not quietly open SMTP.
    if (a && !a.ports && (!d || d.target.kind !== 'port')) {
      const portDeny = portDenies.find((r) => portMatches(r, port))
      if (portDeny) d = portDeny
    }
    if (d && (!a || d.specificity >= a.specificity || (d.target.kind === 'port' && !a.ports))) {
      const reason =
        d.target.kind === 'port'
          ? `port ${port} is denied`
          : `${formatIp(view)} is a ${describe(c)}, denied by rule`
      return { ok: false, rule: d.label, reason }
    }
    if (a) return { ok: true, rule: a.label }
    return {
      ok: false,
      rule: `deny default:${c.class}`,
      reason: `${formatIp(view)} is a ${describe(c)}; only public addresses and allowed rules are reachable`,
    }
  }

  /** Every address the connection would reach must be allowed. */
  function judge(ip: Ip, port: number, name?: string): Verdict {
    let allowed: Verdict | undefined
    for (const view of addressViews(ip)) {
      const v = judgeView(view, port, name)
      if (!v.ok) {
        return view === ip || ip.family === 4
          ? v
          : { ...v, reason: `${formatIp(ip)} carries ${formatIp(view)}: ${v.reason}` }
      }
      allowed ??= v
    }
    return allowed ?? { ok: false, rule: 'deny invalid', reason: 'no address' }
  }

  function denied(
    hostname: string,
    port: number,
    rule: string,
    reason: string,
    address?: string
  ): EgressDenied {
    const decision: EgressDenied =
      rule === 'deny port:25'
        ? { allowed: false, rule, reason, workerMessage: PORT_25_PROHIBITED }
        : { allowed: false, rule, reason }
    debug('egress denied %s:%d by %s: %s', hostname, port, rule, reason)
    if (deniedChannel.hasSubscribers) {
      deniedChannel.publish({ hostname, port, address, rule, reason })
    }
    return decision
  }

  /** One resolution, bounded by the DNS timeout (a ref'd timer: a hanging resolver can't be
   * forgotten) and by the caller's signal (the socket's connect timeout or close). */
  function lookup(name: string, signal: AbortSignal): Promise<readonly LookupAnswer[]> {
    signal.throwIfAborted()
    const controller = new AbortController()
    return new Promise((settle, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        finish()
        controller.abort(signal.reason)
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      }
      const timer = setTimeout(() => {
        finish()
        const error = new EgressDnsTimeoutError(dnsTimeoutMs)
        controller.abort(error)
        reject(error)
      }, dnsTimeoutMs)
      signal.addEventListener('abort', onAbort, { once: true })
      resolve(name, controller.signal).then(
        (answers) => {
          finish()
          settle(answers)
        },
        (error: unknown) => {
          finish()
          reject(error instanceof Error ? error : new Error(String(error)))
        }
      )
    })
  }

  async function decide(
    hostname: string,
    port: number,
    signal: AbortSignal
  ): Promise<EgressDecision> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return denied(hostname, port, 'deny invalid:port', `port ${port} is outside 1-65535`)
    }
    const target = parseTarget(hostname)
    if (target.kind === 'invalid') {
      return denied(hostname, port, 'deny invalid:address', target.why)
    }
    if (target.kind === 'ip') {
      const verdict = judge(target.ip, port)
      if (!verdict.ok) return denied(hostname, port, verdict.rule, verdict.reason)
      return {
        allowed: true,
        address: formatIp(target.ip),
        family: target.ip.family,
        rule: verdict.rule,
      }
    }
    const { name } = target
    // Hostname denies refuse the name itself, before any DNS query leaves the host.
    for (const rule of hostDenies) {
      if (portMatches(rule, port) && hostMatches(rule, name)) {
        return denied(hostname, port, rule.label, `the name ${name} is denied`)
      }
    }
    let answers: readonly LookupAnswer[]
    try {
      answers = await lookup(name, signal)
    } catch (error) {
      if (signal.aborted) throw error
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name
      return denied(hostname, port, 'deny dns:failed', `resolving ${name} failed: ${code}`)
    }
    const list: readonly unknown[] = Array.isArray(answers) ? (answers as readonly unknown[]) : []
    if (list.length === 0) {
      return denied(hostname, port, 'deny dns:no-answer', `${name} has no addresses`)
    }
    let chosen: { ip: Ip; rule: string } | undefined
    let firstDenial: { rule: string; reason: string; address: string } | undefined
    for (const answer of list.slice(0, MAX_ANSWERS)) {
      const address = (answer as { address?: unknown } | null)?.address
      const text = typeof address === 'string' ? address : ''
      const ip = parseIp(text.toLowerCase())
      const verdict: Verdict = ip
        ? judge(ip, port, name)
        : {
            ok: false,
            rule: 'deny dns:bad-answer',
            reason: `resolver returned ${JSON.stringify(text.slice(0, 60))}`,
          }
      if (!verdict.ok) {
        debug('egress: %s answer %s skipped by %s: %s', name, text, verdict.rule, verdict.reason)
        firstDenial ??= { rule: verdict.rule, reason: verdict.reason, address: text }
        if (strict) {
          return denied(
            hostname,
            port,
            verdict.rule,
            `strictMultiAnswer: ${name} has a denied answer: ${verdict.reason}`,
            text
          )
        }
        continue
      }
      if (ip) chosen ??= { ip, rule: verdict.rule }
      if (!strict) break
    }
    if (!chosen) {
      const d = firstDenial ?? {
        rule: 'deny dns:no-answer',
        reason: 'no usable answer',
        address: '',
      }
      return denied(
        hostname,
        port,
        d.rule,
        `${name} resolves only to denied addresses: ${d.reason}`,
        d.address
      )
    }
    return {
      allowed: true,
      address: formatIp(chosen.ip),
      family: chosen.ip.family,
      rule: chosen.rule,
    }
  }

  return { decide }
}
