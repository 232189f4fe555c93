/**
 * The host's egress policy: the operator's rules (config + `--allow/--deny`) through
 * `@wharf/sockets/egress`, plus scoped exceptions for the host's own services (exact
 * address:port only, never a blanket loopback allow), and one log line per denial naming the
 * rule. The Worker only ever sees workerd's generic failure (or Cloudflare's port-25 message).
 */
import { isIP } from 'node:net'
import type { EgressConfig } from './config.js'
import { WharfError } from './errors.js'
import type { ScopedException } from './protocol.js'
import type { EgressPolicy } from './socket-runtime.js'

type Decision = Awaited<ReturnType<EgressPolicy['decide']>>

interface EgressModule {
  createEgressPolicy(options: {
    allow?: readonly string[]
    deny?: readonly string[]
    strictMultiAnswer?: boolean
    allowPort25?: boolean
  }): EgressPolicy
}

/**
 * Used only while `@wharf/sockets/egress` is not built (it is being written): deny by default,
 * allow only IP literals named exactly by an allow rule (`IP` or `IP/32`, `IP/128`), refuse port
 * 25 with Cloudflare's message. Names are never resolved. Stricter than the real policy, never
 * looser.
 */
const fallbackModule: EgressModule = {
  createEgressPolicy(options) {
    const literal = (rule: string): string => rule.replace(/\/(32|128)$/, '').toLowerCase()
    const allow = new Set((options.allow ?? []).map(literal))
    const deny = new Set((options.deny ?? []).map(literal))
    return {
      decide(hostname, port) {
        const host = hostname.toLowerCase()
        const family = isIP(host)
        let decision: Decision
        if (family === 0 || host !== canonicalIp(host)) {
          decision = {
            allowed: false,
            rule: 'deny fallback:not-an-ip-literal',
            reason: 'the fallback policy never resolves names',
          }
        } else if (deny.has(host)) {
          decision = { allowed: false, rule: `deny ${host}`, reason: 'denied by rule' }
        } else if (port === 25 && options.allowPort25 !== true) {
          decision = {
            allowed: false,
            rule: 'deny port:25',
            reason: 'port 25 (SMTP) is refused unless allowPort25 is set',
            workerMessage: 'Connections to port 25 are prohibited',
          }
        } else if (allow.has(host)) {
          decision = {
            allowed: true,
            address: host,
            family: family === 6 ? 6 : 4,
            rule: `allow ${host}`,
          }
        } else {
          decision = {
            allowed: false,
            rule: 'deny fallback:default',
            reason: 'not in the allow list',
          }
        }
        return Promise.resolve(decision)
      },
    }
  },
}

/** The canonical text of an IP literal (so `127.1` or `0x7f.1` never match `127.0.0.1`). */
function canonicalIp(host: string): string {
  if (isIP(host) === 4)
    return host
      .split('.')
      .map((p) => String(Number(p)))
      .join('.')
  return host
}

async function loadEgressModule(): Promise<EgressModule> {
  const specifier = '@wharf/sockets/egress'
  let mod: Partial<EgressModule>
  try {
    mod = (await import(specifier)) as Partial<EgressModule>
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') {
      throw new WharfError(
        'ERR_WHARF_EGRESS_UNAVAILABLE',
        `the egress policy library (@wharf/sockets/egress) failed to load: ${(error as Error).message}`,
        { cause: error }
      )
    }
    process.emitWarning(
      '@wharf/sockets/egress is not built: using the host’s strict fallback policy (exact IP literals from allow rules only)',
      { code: 'WHARF_EGRESS_FALLBACK' }
    )
    return fallbackModule
  }
  if (typeof mod.createEgressPolicy !== 'function') {
    throw new WharfError(
      'ERR_WHARF_EGRESS_UNAVAILABLE',
      '@wharf/sockets/egress has no createEgressPolicy export'
    )
  }
  return mod as EgressModule
}

export interface HostPolicyOptions {
  readonly egress: EgressConfig
  readonly exceptions?: readonly ScopedException[]
  readonly hostAddresses?: readonly { readonly address: string; readonly port: number }[]
  /** Where denials are reported; default: one line on stderr. */
  readonly onDenied?: (hostname: string, port: number, decision: Decision) => void
}

/** Strips IPv6 brackets and lowercases, so exception matching is exact but spelling-tolerant. */
function normalHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
}

const selfDenied: Decision = {
  allowed: false,
  rule: 'deny host:self',
  reason: 'the host’s own listening address (no loops back into the host)',
}

export async function createHostPolicy(options: HostPolicyOptions): Promise<EgressPolicy> {
  const mod = await loadEgressModule()
  const inner = mod.createEgressPolicy({
    allow: options.egress.allow,
    deny: options.egress.deny,
    ...(options.egress.strictMultiAnswer === undefined
      ? {}
      : { strictMultiAnswer: options.egress.strictMultiAnswer }),
    ...(options.egress.allowPort25 === undefined
      ? {}
      : { allowPort25: options.egress.allowPort25 }),
  })
  const exceptions = (options.exceptions ?? []).map((e) => ({ ...e, host: normalHost(e.host) }))
  const self = (options.hostAddresses ?? []).map((a) => ({ ...a, address: normalHost(a.address) }))
  const onDenied =
    options.onDenied ??
    ((hostname: string, port: number, decision: Decision) => {
      if (decision.allowed) return
      process.stderr.write(
        `[wharf:egress] denied ${hostname}:${port} by ${decision.rule}: ${decision.reason}\n`
      )
    })
  return {
    async decide(hostname, port, signal) {
      const host = normalHost(hostname)
      for (const e of exceptions) {
        if (e.host === host && e.port === port) {
          return {
            allowed: true,
            address: e.host,
            family: host.includes(':') ? 6 : 4,
            rule: `allow ${e.label}`,
          }
        }
      }
      const isSelf = (address: string): boolean =>
        self.some((a) => a.address === normalHost(address) && a.port === port)
      let decision: Decision = isSelf(host)
        ? selfDenied
        : await inner.decide(hostname, port, signal)
      if (decision.allowed && isSelf(decision.address)) decision = selfDenied
      if (!decision.allowed) onDenied(hostname, port, decision)
      return decision
    },
  }
}
