/**
 * Private networks in the Worker's config: wrangler's `vpc_networks` and `vpc_services` bindings,
 * and `wharf.tunnels`, which holds what Cloudflare keeps in its API (the tunnels' keys, where the
 * edge listens, and the VPC service definitions).
 *
 * ```jsonc
 * "vpc_networks": [{ "binding": "NET", "tunnel_id": "office" }],
 * "vpc_services": [{ "binding": "INTRANET", "service_id": "intranet" }],
 * "wharf": { "tunnels": {
 *   "listen": "127.0.0.1:7843", "cert": "edge.pem", "key": "edge.key",
 *   "tunnels": [{ "id": "office", "keys": [{ "id": "k1", "secret_env": "OFFICE_TUNNEL_SECRET" }] }],
 *   "services": [{ "id": "intranet", "tunnel_id": "office", "type": "http", "host": "10.0.0.5", "http_port": 8080 }]
 * } }
 * ```
 */
import { basename, dirname, resolve } from 'node:path'
import { configError } from './errors.js'

export interface VpcServiceConfig {
  readonly id: string
  readonly tunnel: string
  readonly type: 'http' | 'tcp'
  readonly host: string
  readonly port: number
  readonly https: boolean
  readonly certVerification: 'verify_full' | 'verify_ca' | 'disabled'
}

export interface TunnelsConfig {
  readonly host: string
  readonly port: number
  readonly certFile: string
  readonly keyFile: string
  readonly tunnels: readonly {
    readonly id: string
    readonly keys: readonly { id: string; secret?: string; secretEnv?: string; notAfter?: string }[]
  }[]
  readonly services: readonly VpcServiceConfig[]
}

export interface VpcConfig {
  readonly networks: readonly { readonly binding: string; readonly tunnel: string }[]
  readonly services: readonly { readonly binding: string; readonly service: string }[]
  readonly tunnels?: TunnelsConfig
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const ID = /^[A-Za-z0-9_-]{1,64}$/
const BINDING = /^[A-Za-z_][A-Za-z0-9_]*$/

export function parseVpc(raw: Json, wharf: Json | undefined, file: string): VpcConfig {
  const fail = (field: string, message: string): never => {
    throw configError(basename(file), `field "${field}" ${message}`)
  }
  const id = (value: unknown, field: string): string =>
    typeof value === 'string' && ID.test(value)
      ? value
      : fail(field, 'must be an id of letters, digits, "-" or "_"')
  const binding = (value: unknown, field: string): string =>
    typeof value === 'string' && BINDING.test(value)
      ? value
      : fail(field, 'must be a valid binding name')
  const list = (value: unknown, field: string): unknown[] =>
    value === undefined ? [] : Array.isArray(value) ? value : fail(field, 'must be an array')
  const port = (value: unknown, field: string): number =>
    Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535
      ? (value as number)
      : fail(field, 'must be a port (1-65535)')

  const networks = list(raw.vpc_networks, 'vpc_networks').map((entry, i) => {
    if (!isObject(entry)) return fail(`vpc_networks[${i}]`, 'must be an object')
    if (entry.network_id !== undefined && entry.tunnel_id === undefined) {
      return fail(
        `vpc_networks[${i}].network_id`,
        'is a Cloudflare network; self-hosted, name a "tunnel_id" of wharf.tunnels'
      )
    }
    return {
      binding: binding(entry.binding, `vpc_networks[${i}].binding`),
      tunnel: id(entry.tunnel_id, `vpc_networks[${i}].tunnel_id`),
    }
  })
  const services = list(raw.vpc_services, 'vpc_services').map((entry, i) => {
    if (!isObject(entry)) return fail(`vpc_services[${i}]`, 'must be an object')
    return {
      binding: binding(entry.binding, `vpc_services[${i}].binding`),
      service: id(entry.service_id, `vpc_services[${i}].service_id`),
    }
  })

  const t = wharf?.tunnels
  if (t === undefined) {
    if (networks.length > 0 || services.length > 0) {
      fail(
        networks.length > 0 ? 'vpc_networks' : 'vpc_services',
        'needs wharf.tunnels (the edge and its tunnels, see docs/tunnel.md)'
      )
    }
    return { networks, services }
  }
  if (!isObject(t)) return fail('wharf.tunnels', 'must be an object')
  const listen = typeof t.listen === 'string' ? t.listen : '127.0.0.1:7843'
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen)
  if (match === null || Number(match[3]) > 65535) fail('wharf.tunnels.listen', 'must be HOST:PORT')
  const base = dirname(file)
  const path = (value: unknown, field: string): string =>
    typeof value === 'string' && value !== ''
      ? resolve(base, value)
      : fail(field, 'must be a file path (PEM)')
  const tunnels = list(t.tunnels, 'wharf.tunnels.tunnels').map((entry, i) => {
    const field = `wharf.tunnels.tunnels[${i}]`
    if (!isObject(entry)) return fail(field, 'must be an object')
    const keys = list(entry.keys, `${field}.keys`).map((key, j) => {
      const kf = `${field}.keys[${j}]`
      if (!isObject(key)) return fail(kf, 'must be an object')
      const secret = typeof key.secret === 'string' ? key.secret : undefined
      const secretEnv = typeof key.secret_env === 'string' ? key.secret_env : undefined
      if ((secret === undefined) === (secretEnv === undefined))
        fail(kf, 'needs exactly one of "secret" or "secret_env"')
      const notAfter = typeof key.not_after === 'string' ? key.not_after : undefined
      return { id: id(key.id, `${kf}.id`), secret, secretEnv, notAfter }
    })
    if (keys.length === 0) fail(`${field}.keys`, 'needs at least one key')
    return { id: id(entry.id, `${field}.id`), keys }
  })
  const known = new Set(tunnels.map((x) => x.id))
  const defined = list(t.services, 'wharf.tunnels.services').map((entry, i): VpcServiceConfig => {
    const field = `wharf.tunnels.services[${i}]`
    if (!isObject(entry)) return fail(field, 'must be an object')
    const type =
      entry.type === 'http' || entry.type === 'tcp'
        ? entry.type
        : fail(`${field}.type`, 'must be "http" or "tcp"')
    const host =
      typeof entry.host === 'string' && entry.host !== ''
        ? entry.host
        : fail(`${field}.host`, 'must be a host name or address')
    const https = type === 'http' && entry.https_port !== undefined
    const servicePort =
      type === 'tcp'
        ? port(entry.tcp_port, `${field}.tcp_port`)
        : https
          ? port(entry.https_port, `${field}.https_port`)
          : port(entry.http_port ?? 80, `${field}.http_port`)
    const mode = entry.cert_verification_mode ?? 'verify_full'
    if (mode !== 'verify_full' && mode !== 'verify_ca' && mode !== 'disabled') {
      fail(`${field}.cert_verification_mode`, 'must be "verify_full", "verify_ca" or "disabled"')
    }
    const tunnel = id(entry.tunnel_id, `${field}.tunnel_id`)
    if (!known.has(tunnel))
      fail(`${field}.tunnel_id`, `names no tunnel of wharf.tunnels.tunnels ("${tunnel}")`)
    return {
      id: id(entry.id, `${field}.id`),
      tunnel,
      type,
      host,
      port: servicePort,
      https,
      certVerification: mode as VpcServiceConfig['certVerification'],
    }
  })
  for (const [i, n] of networks.entries()) {
    if (!known.has(n.tunnel))
      fail(
        `vpc_networks[${i}].tunnel_id`,
        `names no tunnel of wharf.tunnels.tunnels ("${n.tunnel}")`
      )
  }
  for (const [i, s] of services.entries()) {
    if (!defined.some((d) => d.id === s.service))
      fail(
        `vpc_services[${i}].service_id`,
        `names no service of wharf.tunnels.services ("${s.service}")`
      )
  }
  return {
    networks,
    services,
    tunnels: {
      host: match?.[1] ?? match?.[2] ?? '127.0.0.1',
      port: Number(match?.[3]),
      certFile: path(t.cert, 'wharf.tunnels.cert'),
      keyFile: path(t.key, 'wharf.tunnels.key'),
      tunnels,
      services: defined,
    },
  }
}
