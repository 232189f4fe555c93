/**
 * The host's egress policy: the operator's rules (config + `--allow/--deny`) through
 * `@wharf/sockets/egress`, plus scoped exceptions for the host's own services (exact
 * address:port only, never a blanket loopback allow), and one log line per denial naming the
 * rule. The Worker only ever sees workerd's generic failure (or Cloudflare's port-25 message).
 */
import { createEgressPolicy, unbracketHost } from '@wharf/sockets/egress'
import type { EgressConfig } from './config.js'
import type { EgressPolicy, ScopedException } from './protocol.js'

type Decision = Awaited<ReturnType<EgressPolicy['decide']>>

export interface HostPolicyOptions {
  readonly egress: EgressConfig
  readonly exceptions?: readonly ScopedException[]
  readonly hostAddresses?: readonly { readonly address: string; readonly port: number }[]
  /** Where denials are reported; default: one line on stderr. */
  readonly onDenied?: (hostname: string, port: number, decision: Decision) => void
}

/** Strips IPv6 brackets and lowercases, so exception matching is exact but spelling-tolerant. */
function normalHost(host: string): string {
  return unbracketHost(host).toLowerCase()
}

const selfDenied: Decision = {
  allowed: false,
  rule: 'deny host:self',
  reason: 'the host’s own listening address (no loops back into the host)',
}

export function createHostPolicy(options: HostPolicyOptions): EgressPolicy {
  const inner = createEgressPolicy({
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
