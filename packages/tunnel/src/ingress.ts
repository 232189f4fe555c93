/**
 * The connector's ingress rules: what it will reach inside the private network, whatever the edge
 * asks for. They are checked here, on the connector, after its own DNS lookup, and the connector
 * dials exactly the address it checked, so a compromised edge can reach no more than the rules say.
 *
 * Rule forms (JSON):
 * - `{ "host": "10.0.0.5", "port": 5432 }`: one IP address and port (or `"ports": "8000-8080"`);
 * - `{ "cidr": "10.0.0.0/24", "ports": "1-65535" }`: any address in a range;
 * - `{ "hostname": "db.internal", "port": 5432 }`: an exact name, resolved by the connector.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import net from 'node:net'
import { TunnelConfigError, TunnelIngressDeniedError } from './errors.js'

export interface IngressRuleJson {
  readonly host?: string
  readonly cidr?: string
  readonly hostname?: string
  readonly port?: number
  readonly ports?: string
}

interface PortRange {
  readonly low: number
  readonly high: number
}

interface AddressRule {
  readonly kind: 'address'
  readonly addresses: net.BlockList
  readonly ports: PortRange
  readonly text: string
}

interface NameRule {
  readonly kind: 'name'
  readonly name: string
  readonly ports: PortRange
  readonly text: string
}

export type IngressRule = AddressRule | NameRule

export interface IngressTarget {
  /** The IP address the connector checked and will dial. */
  readonly address: string
  readonly family: 4 | 6
  readonly port: number
  /** The rule that allowed it. */
  readonly rule: string
}

export type Lookup = (hostname: string) => Promise<readonly { address: string; family: number }[]>

const MAX_RULES = 1024
const MAX_ANSWERS = 32
/** How long the connector waits for its own DNS answer for a name the edge asked for. */
export const LOOKUP_TIMEOUT_MS = 5_000
const NAME =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/

const defaultLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

function portRange(rule: IngressRuleJson, where: string): PortRange {
  if (rule.port !== undefined && rule.ports !== undefined) {
    throw new TunnelConfigError(`${where}: give "port" or "ports", not both`)
  }
  if (rule.port !== undefined) {
    if (!Number.isInteger(rule.port) || rule.port < 1 || rule.port > 65535) {
      throw new TunnelConfigError(`${where}: "port" must be an integer from 1 to 65535`)
    }
    return { low: rule.port, high: rule.port }
  }
  if (typeof rule.ports !== 'string')
    throw new TunnelConfigError(`${where}: "port" or "ports" is required`)
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(rule.ports)
  const low = Number(match?.[1])
  const high = match?.[2] === undefined ? low : Number(match[2])
  if (match === null || low < 1 || high > 65535 || low > high) {
    throw new TunnelConfigError(`${where}: "ports" must be N or LOW-HIGH within 1-65535`)
  }
  return { low, high }
}

const family = (address: string): 'ipv4' | 'ipv6' => (net.isIPv4(address) ? 'ipv4' : 'ipv6')

export function parseIngress(rules: unknown): IngressRule[] {
  if (!Array.isArray(rules)) throw new TunnelConfigError('"ingress" must be an array of rules')
  if (rules.length > MAX_RULES) throw new TunnelConfigError(`at most ${MAX_RULES} ingress rules`)
  return rules.map((raw: unknown, index): IngressRule => {
    const where = `ingress[${index}]`
    if (raw === null || typeof raw !== 'object')
      throw new TunnelConfigError(`${where}: must be an object`)
    const rule = raw as IngressRuleJson
    const forms = [rule.host, rule.cidr, rule.hostname].filter((v) => v !== undefined)
    if (forms.length !== 1) {
      throw new TunnelConfigError(`${where}: give exactly one of "host", "cidr" or "hostname"`)
    }
    const ports = portRange(rule, where)
    const portText = ports.low === ports.high ? `${ports.low}` : `${ports.low}-${ports.high}`
    if (rule.hostname !== undefined) {
      const name = String(rule.hostname).toLowerCase().replace(/\.$/, '')
      if (!NAME.test(name) || net.isIP(name) !== 0) {
        throw new TunnelConfigError(
          `${where}: "hostname" must be a DNS name (use "host" for an address)`
        )
      }
      return { kind: 'name', name, ports, text: `${name}:${portText}` }
    }
    const addresses = new net.BlockList()
    if (rule.host !== undefined) {
      const host = String(rule.host)
      if (net.isIP(host) === 0)
        throw new TunnelConfigError(`${where}: "host" must be an IP address`)
      addresses.addAddress(host, family(host))
      return { kind: 'address', addresses, ports, text: `${host}:${portText}` }
    }
    const [base = '', bits = ''] = String(rule.cidr).split('/')
    const prefix = Number(bits)
    const max = net.isIPv4(base) ? 32 : 128
    if (net.isIP(base) === 0 || !/^\d{1,3}$/.test(bits) || prefix > max) {
      throw new TunnelConfigError(`${where}: "cidr" must be ADDRESS/PREFIX`)
    }
    addresses.addSubnet(base, prefix, family(base))
    return { kind: 'address', addresses, ports, text: `${String(rule.cidr)}:${portText}` }
  })
}

const inPorts = (ports: PortRange, port: number): boolean => port >= ports.low && port <= ports.high

/** IPv4-mapped IPv6 is checked as the IPv4 address it carries. */
function canonical(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped?.[1] ?? address
}

function addressRule(
  rules: readonly IngressRule[],
  address: string,
  port: number
): IngressRule | undefined {
  const ip = canonical(address)
  return rules.find(
    (r) => r.kind === 'address' && inPorts(r.ports, port) && r.addresses.check(ip, family(ip))
  )
}

/**
 * Decides where a flow to `host:port` may go. Names are resolved here, every answer checked, and
 * the first allowed one returned; nothing is resolved twice.
 */
export async function resolveTarget(
  rules: readonly IngressRule[],
  host: string,
  port: number,
  lookup: Lookup = defaultLookup,
  lookupTimeoutMs = LOOKUP_TIMEOUT_MS
): Promise<IngressTarget> {
  const denied = (): TunnelIngressDeniedError =>
    new TunnelIngressDeniedError(`the connector's ingress rules do not allow ${host}:${port}`)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw denied()
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (net.isIP(literal) !== 0) {
    const rule = addressRule(rules, literal, port)
    if (rule === undefined) throw denied()
    const ip = canonical(literal)
    return { address: ip, family: net.isIPv4(ip) ? 4 : 6, port, rule: rule.text }
  }
  const name = literal.toLowerCase().replace(/\.$/, '')
  if (!NAME.test(name)) throw denied()
  const byName = rules.find((r) => r.kind === 'name' && r.name === name && inPorts(r.ports, port))
  let answers: readonly { address: string; family: number }[]
  // A lookup that never answers must not hold the flow (and its slot) for ever.
  let timer: NodeJS.Timeout | undefined
  try {
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('lookup timed out')), lookupTimeoutMs)
    })
    answers = (await Promise.race([lookup(name), timedOut])).slice(0, MAX_ANSWERS)
  } catch {
    throw new TunnelIngressDeniedError(`the connector could not resolve ${name}`)
  } finally {
    clearTimeout(timer)
  }
  for (const answer of answers) {
    const ip = canonical(answer.address)
    if (net.isIP(ip) === 0) continue
    const rule = byName ?? addressRule(rules, ip, port)
    if (rule !== undefined)
      return { address: ip, family: net.isIPv4(ip) ? 4 : 6, port, rule: rule.text }
  }
  throw denied()
}
