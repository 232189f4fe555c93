/**
 * Sockets between Workers in the Worker's config: wrangler's `services` bindings and
 * `dispatch_namespaces` (Workers for Platforms), and the host's own `wharf.outbound` (an Outbound
 * Worker), `wharf.dispatch_namespace` (the namespace a user Worker is in) and `wharf.tcp`
 * (inbound TCP listeners).
 *
 * ```jsonc
 * "services": [{ "binding": "BACKEND", "service": "backend", "entrypoint": "Admin" }],
 * "wharf": {
 *   "outbound": { "service": "egress-filter", "params": { "TENANT": "t1" } },
 *   "tcp": [{ "port": 6380, "entrypoint": "Redis" }]
 * }
 * ```
 */
import { basename, dirname, resolve } from 'node:path'
import { existsSync, statSync } from 'node:fs'
import { configError } from '../errors.js'

export interface ServiceBindingConfig {
  readonly binding: string
  /** The `name` of another Worker of the host (another `-c` config). */
  readonly service: string
  /** A named export of that Worker (a `WorkerEntrypoint`); its default export when absent. */
  readonly entrypoint?: string
}

/** `wharf.outbound`: the Worker every `fetch()` (and `connect()`) of this one goes through. */
export interface OutboundConfig {
  /** Another Worker of the host, by name; or */
  readonly service?: string
  /** a module of its own (absolute path), built and run like a Worker with this config's settings. */
  readonly main?: string
  /** The Outbound Worker's `env` values (Workers for Platforms' outbound parameters). */
  readonly params: Readonly<Record<string, unknown>>
}

export interface TcpListenerConfig {
  readonly port: number
  /** Listening address; `dev.ip` (or 127.0.0.1) when absent. */
  readonly ip?: string
  readonly entrypoint?: string
}

/** wrangler's `[[dispatch_namespaces]]`: `env.BINDING.get(name)` reaches a user Worker. */
export interface DispatchNamespaceConfig {
  readonly binding: string
  readonly namespace: string
  /** The namespace's Outbound Worker, in front of every user Worker reached through it. */
  readonly outbound?: {
    readonly service: string
    /** Names of `get()`'s `outbound` values the Outbound Worker gets in its `env`. */
    readonly parameters: readonly string[]
  }
}

export interface ServicesConfig {
  readonly bindings: readonly ServiceBindingConfig[]
  readonly dispatch: readonly DispatchNamespaceConfig[]
  /** `wharf.dispatch_namespace`: this Worker is a user Worker of that namespace, by its name. */
  readonly namespace?: string
  readonly outbound?: OutboundConfig
  readonly tcp: readonly TcpListenerConfig[]
}

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const BINDING = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const NAME = /^[A-Za-z0-9_-]{1,64}$/
/** A JavaScript export name (a class), as workerd accepts it in `entrypoint`. */
const EXPORT = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/
const MAX_ENTRIES = 64

export function parseServices(raw: Json, wharf: Json | undefined, file: string): ServicesConfig {
  const fail = (field: string, message: string): never => {
    throw configError(basename(file), `field "${field}" ${message}`)
  }
  const list = (value: unknown, field: string): unknown[] => {
    if (value === undefined) return []
    if (!Array.isArray(value)) return fail(field, 'must be an array')
    if (value.length > MAX_ENTRIES) return fail(field, `has more than ${MAX_ENTRIES} entries`)
    return value
  }
  const entrypointOf = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'string' || !EXPORT.test(value) || value === 'default') {
      return fail(field, 'must name an exported class (a JavaScript identifier)')
    }
    return value
  }

  const bindings = list(raw.services, 'services').map((entry, i): ServiceBindingConfig => {
    const field = `services[${i}]`
    if (!isObject(entry)) return fail(field, 'must be an object')
    const binding = entry.binding
    if (typeof binding !== 'string' || !BINDING.test(binding)) {
      return fail(`${field}.binding`, 'must be a binding name (letters, digits, "_")')
    }
    const service = entry.service
    if (typeof service !== 'string' || !NAME.test(service)) {
      return fail(`${field}.service`, "must be another Worker's name")
    }
    const entrypoint = entrypointOf(entry.entrypoint, `${field}.entrypoint`)
    return { binding, service, ...(entrypoint === undefined ? {} : { entrypoint }) }
  })
  const dispatch = list(raw.dispatch_namespaces, 'dispatch_namespaces').map(
    (entry, i): DispatchNamespaceConfig => {
      const field = `dispatch_namespaces[${i}]`
      if (!isObject(entry)) return fail(field, 'must be an object')
      const binding = entry.binding
      if (typeof binding !== 'string' || !BINDING.test(binding)) {
        return fail(`${field}.binding`, 'must be a binding name (letters, digits, "_")')
      }
      const namespace = entry.namespace
      if (typeof namespace !== 'string' || !NAME.test(namespace)) {
        return fail(`${field}.namespace`, 'must be a namespace name (letters, digits, "_", "-")')
      }
      const o = entry.outbound
      if (o === undefined) return { binding, namespace }
      if (!isObject(o)) return fail(`${field}.outbound`, 'must be an object')
      for (const key of Object.keys(o)) {
        if (key !== 'service' && key !== 'parameters') {
          fail(`${field}.outbound.${key}`, 'is not supported (known: service, parameters)')
        }
      }
      if (typeof o.service !== 'string' || !NAME.test(o.service)) {
        return fail(`${field}.outbound.service`, "must be another Worker's name")
      }
      const parameters = list(o.parameters, `${field}.outbound.parameters`).map((p, j) =>
        typeof p === 'string' && BINDING.test(p)
          ? p
          : fail(`${field}.outbound.parameters[${j}]`, 'must be a binding name')
      )
      return { binding, namespace, outbound: { service: o.service, parameters } }
    }
  )
  const seen = new Set<string>()
  for (const b of [...bindings, ...dispatch]) {
    if (seen.has(b.binding)) fail('services', `binds ${b.binding} twice`)
    seen.add(b.binding)
  }
  const namespace = wharf?.dispatch_namespace
  if (namespace !== undefined && (typeof namespace !== 'string' || !NAME.test(namespace))) {
    fail('wharf.dispatch_namespace', 'must be a namespace name (letters, digits, "_", "-")')
  }

  let outbound: OutboundConfig | undefined
  const o = wharf?.outbound
  if (o !== undefined) {
    if (!isObject(o)) return fail('wharf.outbound', 'must be an object')
    for (const key of Object.keys(o)) {
      if (!['service', 'main', 'params'].includes(key)) {
        fail(`wharf.outbound.${key}`, 'is not a known field (known: service, main, params)')
      }
    }
    if ((o.service === undefined) === (o.main === undefined)) {
      fail(
        'wharf.outbound',
        'needs exactly one of "service" (a Worker\'s name) and "main" (a module)'
      )
    }
    if (o.service !== undefined && (typeof o.service !== 'string' || !NAME.test(o.service))) {
      fail('wharf.outbound.service', "must be another Worker's name")
    }
    let main: string | undefined
    if (o.main !== undefined) {
      if (typeof o.main !== 'string' || o.main === '') {
        return fail('wharf.outbound.main', 'must be a non-empty string')
      }
      main = resolve(dirname(file), o.main)
      if (!existsSync(main) || !statSync(main).isFile()) {
        fail('wharf.outbound.main', `names a file that does not exist: ${main}`)
      }
    }
    const params = o.params ?? {}
    if (!isObject(params))
      return fail('wharf.outbound.params', 'must be an object of names to values')
    for (const key of Object.keys(params)) {
      if (!BINDING.test(key)) fail(`wharf.outbound.params.${key}`, 'is not a valid binding name')
    }
    outbound = {
      ...(typeof o.service === 'string' ? { service: o.service } : {}),
      ...(main === undefined ? {} : { main }),
      params: { ...params },
    }
  }

  const tcp = list(wharf?.tcp, 'wharf.tcp').map((entry, i): TcpListenerConfig => {
    const field = `wharf.tcp[${i}]`
    if (!isObject(entry)) return fail(field, 'must be an object')
    for (const key of Object.keys(entry)) {
      if (!['port', 'ip', 'entrypoint'].includes(key)) {
        fail(`${field}.${key}`, 'is not a known field (known: port, ip, entrypoint)')
      }
    }
    const port = entry.port
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      return fail(
        `${field}.port`,
        `must be an integer from 0 to 65535 (got ${JSON.stringify(port)})`
      )
    }
    if (entry.ip !== undefined && (typeof entry.ip !== 'string' || entry.ip === '')) {
      fail(`${field}.ip`, 'must be a non-empty string')
    }
    const entrypoint = entrypointOf(entry.entrypoint, `${field}.entrypoint`)
    return {
      port,
      ...(typeof entry.ip === 'string' ? { ip: entry.ip } : {}),
      ...(entrypoint === undefined ? {} : { entrypoint }),
    }
  })
  return {
    bindings,
    dispatch,
    ...(typeof namespace === 'string' ? { namespace } : {}),
    ...(outbound === undefined ? {} : { outbound }),
    tcp,
  }
}
