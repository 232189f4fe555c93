/**
 * `isIP`, `SocketAddress` and `BlockList` of `node:net`, with workerd's errors and rule order.
 * Pure value types: no I/O. Address arithmetic uses the egress policy's strict parser.
 *
 * @module
 */
import nodeNet from 'node:net'
import { inspect } from 'node:util'
import { parseIpv4, parseIpv6, type Ip } from '../egress/ip.js'
import * as E from './errors.js'

export const isIP = (input: unknown): number => nodeNet.isIP(String(input))
export const isIPv4 = (input: unknown): boolean => nodeNet.isIPv4(String(input))
export const isIPv6 = (input: unknown): boolean => nodeNet.isIPv6(String(input))

type Family = 'ipv4' | 'ipv6'

export interface SocketAddressInit {
  address?: string
  port?: number | string
  family?: string
  flowlabel?: number
}

export class SocketAddress {
  readonly #address: string
  readonly #port: number
  readonly #family: Family
  readonly #flowlabel: number

  static isSocketAddress(value: unknown): value is SocketAddress {
    return value instanceof SocketAddress
  }

  /** Parses `'1.2.3.4:80'` or `'[::1]:80'`; `undefined` when it is not a socket address. */
  static parse(input: string): SocketAddress | undefined {
    E.validateString(input, 'input')
    try {
      const url = URL.parse(`http://${input}`)
      if (url === null) return undefined
      const port = Number(url.port) | 0
      const host = url.hostname
      if (host.startsWith('[') && host.endsWith(']'))
        return new SocketAddress({ address: host.slice(1, -1), port, family: 'ipv6' })
      return new SocketAddress({ address: host, port })
    } catch {
      return undefined
    }
  }

  constructor(options: SocketAddressInit = {}) {
    E.validateObject(options, 'options')
    let family = options.family ?? 'ipv4'
    if (typeof family === 'string') family = family.toLowerCase()
    E.validateOneOf(family, 'options.family', ['ipv4', 'ipv6'])
    const fam = family as Family
    const { address = fam === 'ipv4' ? '127.0.0.1' : '::', port = 0, flowlabel = 0 } = options
    E.validateString(address, 'options.address')
    const validPort = E.validatePort(port, 'options.port')
    E.validateUint32(flowlabel, 'options.flowlabel')
    if (fam === 'ipv4' ? !isIPv4(address) : !isIPv6(address)) throw E.invalidAddress()
    this.#address = address
    this.#port = validPort
    this.#family = fam
    this.#flowlabel = flowlabel
  }

  get address(): string {
    return this.#address
  }
  get port(): number {
    return this.#port
  }
  get family(): Family {
    return this.#family
  }
  get flowlabel(): number {
    return this.#flowlabel
  }

  toJSON(): { address: string; port: number; family: Family; flowlabel: number } {
    return {
      address: this.#address,
      port: this.#port,
      family: this.#family,
      flowlabel: this.#flowlabel,
    }
  }

  [inspect.custom](depth: number): string | this {
    return depth < 0 ? this : `SocketAddress ${inspect(this.toJSON())}`
  }
}

/** An address as a 128-bit number, IPv4 as IPv4-mapped IPv6 so one comparison serves both. */
function toBig(ip: Ip): bigint {
  let n = ip.family === 4 ? 0xffffn : 0n
  for (const b of ip.bytes) n = (n << 8n) | BigInt(b)
  return n
}

function parse(address: string, family: Family): Ip | undefined {
  return family === 'ipv4' ? parseIpv4(address) : parseIpv6(address)
}

const MAX128 = (1n << 128n) - 1n
const label = (f: Family): string => (f === 'ipv4' ? 'IPv4' : 'IPv6')

interface Rule {
  text: string
  /** Inclusive bounds in the 128-bit space. */
  low: bigint
  high: bigint
}

function subnetBounds(ip: Ip, prefix: number): [bigint, bigint] {
  const bits = ip.family === 4 ? 96 + prefix : prefix
  const hostMask = bits >= 128 ? 0n : MAX128 >> BigInt(bits)
  const base = toBig(ip) & (MAX128 ^ hostMask)
  return [base, base | hostMask]
}

const kRule = /^(Address|Range|Subnet): (IPv4|IPv6) (\S{1,100})$/

/** `net.BlockList`: rules are checked in insertion order; IPv4-mapped IPv6 matches IPv4 rules. */
export class BlockList {
  readonly #rules: Rule[] = []

  static isBlockList(value: unknown): value is BlockList {
    return value instanceof BlockList
  }

  #operand(
    value: string | SocketAddress,
    family: Family,
    name: string
  ): { address: string; family: Family } {
    if (SocketAddress.isSocketAddress(value))
      return { address: value.address, family: value.family }
    E.validateString(value, name)
    E.validateOneOf(family, 'family', ['ipv4', 'ipv6'])
    return { address: value, family }
  }

  #ip(address: string, family: Family): Ip {
    const ip = parse(address, family)
    if (!ip) throw E.invalidIpAddress(`Invalid ${label(family)} address`)
    return ip
  }

  addAddress(address: string | SocketAddress, family: Family = 'ipv4'): void {
    const a = this.#operand(address, family, 'address')
    const n = toBig(this.#ip(a.address, a.family))
    this.#rules.push({ text: `Address: ${label(a.family)} ${a.address}`, low: n, high: n })
  }

  addRange(
    start: string | SocketAddress,
    end: string | SocketAddress,
    family: Family = 'ipv4'
  ): void {
    const s = this.#operand(start, family, 'start')
    const e = this.#operand(end, s.family, 'end')
    if (
      SocketAddress.isSocketAddress(end) &&
      SocketAddress.isSocketAddress(start) &&
      e.family !== s.family
    )
      throw E.invalidArgValue('end', end, 'must be same family as start')
    const low = toBig(this.#ip(s.address, s.family))
    const high = toBig(this.#ip(e.address, s.family))
    if (low > high) throw E.invalidArgValue('start', s.address, 'must come before end')
    this.#rules.push({ text: `Range: ${label(s.family)} ${s.address}-${e.address}`, low, high })
  }

  addSubnet(network: string | SocketAddress, prefix: number, family: Family = 'ipv4'): void {
    const n = this.#operand(network, family, 'network')
    E.validateInt32(prefix, 'prefix')
    const max = n.family === 'ipv4' ? 32 : 128
    if (prefix < 0 || prefix > max) throw E.outOfRange('prefix', `between 0 and ${max}`, prefix)
    const [low, high] = subnetBounds(this.#ip(n.address, n.family), prefix)
    this.#rules.push({ text: `Subnet: ${label(n.family)} ${n.address}/${prefix}`, low, high })
  }

  check(address: string | SocketAddress, family: Family = 'ipv4'): boolean {
    const a = this.#operand(address, family, 'address')
    const ip = parse(a.address, a.family.toLowerCase() as Family)
    if (!ip) return false
    const n = toBig(ip)
    return this.#rules.some((r) => n >= r.low && n <= r.high)
  }

  get rules(): string[] {
    return this.#rules.map((r) => r.text)
  }

  toJSON(): string[] {
    return this.rules
  }

  /** Adds the rules of `toJSON()` output (a JSON string or the array). Unknown lines are skipped. */
  fromJSON(data: string | readonly string[]): void {
    let rules: unknown = data
    if (typeof data === 'string') {
      try {
        rules = JSON.parse(data)
      } catch {
        throw E.invalidArgValue('data', data, 'must be valid JSON')
      }
    }
    if (!Array.isArray(rules)) throw E.invalidArgType('data', ['Array'], rules)
    for (const item of rules as unknown[]) {
      const m = typeof item === 'string' ? kRule.exec(item) : null
      if (!m) continue
      const [, kind, fam, body = ''] = m
      const family: Family = fam === 'IPv6' ? 'ipv6' : 'ipv4'
      if (kind === 'Address') this.addAddress(body, family)
      else if (kind === 'Subnet') {
        const slash = body.lastIndexOf('/')
        this.addSubnet(body.slice(0, slash), Number(body.slice(slash + 1)), family)
      } else {
        const dash = body.indexOf('-')
        this.addRange(body.slice(0, dash), body.slice(dash + 1), family)
      }
    }
  }

  [inspect.custom](depth: number): string {
    return depth < 0 ? '[BlockList]' : `BlockList {\n  rules: ${inspect(this.rules)}\n}`
  }
}
