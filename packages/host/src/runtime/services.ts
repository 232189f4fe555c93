/**
 * Service bindings as the Worker sees them: `env.BINDING.fetch()` reaches the bound Worker's
 * fetch() handler and `env.BINDING.connect(address)` its connect() handler, each in that Worker's
 * own runtime process and request. The supervisor opens both (services/hub.ts) through the broker
 * routes of services/routes.ts. Any other method is an RPC call, which wharf does not run.
 * With `wharf.outbound`, the global `fetch()` and `connect()` go to the Outbound Worker instead.
 */
import type { Socket } from 'node:net'
import { type SocketAddress, type SocketOptions } from '@wharf/sockets'
import type { Agent } from 'undici'
import { undici } from './lazy-undici.js'
import {
  MAX_OUTBOUND_PARAMS,
  OUTBOUND_FETCH,
  OUTBOUND_PARAMS_HEADER,
  URL_HEADER,
  connectRoute,
  dispatchConnectRoute,
  dispatchFetchRoute,
  fetchRoute,
} from '../services/routes.js'
import { currentScope } from './request-scope.js'
import { connectVia, type DialVia } from './vpc-bindings.js'
import { WharfRpcUnsupportedError } from '../errors.js'

/** Node's own fetch, before the host wraps the global one (counting, Outbound Worker). */
const nativeFetch = globalThis.fetch

/** workerd's error for `secureTransport: 'on'` through a service binding (thrown by connect()). */
export const INBOUND_TLS = 'Incoming CONNECT with TLS not supported'

/** Properties that must not look like RPC methods (promise detection, JSON, inspection). */
const NOT_RPC = new Set(['then', 'toJSON', 'inspect', 'asymmetricMatch', '$$typeof'])

type Fetch = (input: Request | string | URL, init?: RequestInit) => Promise<Response>

/** A routed fetch() that takes the outbound parameters (JSON) the request carries, if any. */
type RoutedFetch = (
  input: Request | string | URL,
  init?: RequestInit,
  params?: string
) => Promise<Response>

/**
 * A `fetch()` whose connections come from `route` (an HTTP connection to another Worker).
 * `params` gives the outbound parameters the request carries (OUTBOUND_PARAMS_HEADER), if any.
 */
export function routedFetch(
  route: string,
  dialVia: DialVia,
  connectTimeoutMs: number,
  params: () => string | undefined = () => undefined
): Fetch {
  const routed = routedFetchWith(route, dialVia, connectTimeoutMs)
  return (input, init) => routed(input, init, params())
}

/** One keep-alive agent per route: its connections are reused across requests. */
function routedFetchWith(route: string, dialVia: DialVia, connectTimeoutMs: number): RoutedFetch {
  let agent: Agent | undefined
  return async (input, init, values) => {
    agent ??= new (undici().Agent)({
      connectTimeout: connectTimeoutMs,
      // The callee is local and plain HTTP whatever the URL's scheme: the URL travels in a header.
      connect: (_options, callback) => {
        dialVia(
          route,
          { hostname: 'service.invalid', port: 1 },
          AbortSignal.timeout(connectTimeoutMs)
        ).then(
          (socket: Socket) => callback(null, socket),
          (error: Error) => callback(error, null)
        )
      },
    })
    const request = new Request(input, init)
    const headers = new Headers(request.headers)
    headers.set(URL_HEADER, request.url)
    // Only the host sets the parameters: a Worker's own header never reaches the callee.
    headers.delete(OUTBOUND_PARAMS_HEADER)
    if (values !== undefined) headers.set(OUTBOUND_PARAMS_HEADER, values)
    const options: Record<string, unknown> = {
      method: request.method,
      headers,
      body: request.body,
      redirect: request.redirect,
      signal: request.signal,
      dispatcher: agent,
      ...(request.body === null ? {} : { duplex: 'half' }),
    }
    return nativeFetch(request.url, options)
  }
}

/** `env.BINDING` for a `services` binding. */
export function serviceBinding(
  binding: string,
  dialVia: DialVia,
  connectTimeoutMs: number,
  /** Makes each fetch() hold one of the caller's socket slots (fetch-limit.ts). */
  limit: (fetch: Fetch) => Fetch = (f) => f
): object {
  return fetcher(binding, {
    fetch: limit(routedFetch(fetchRoute(binding), dialVia, connectTimeoutMs)),
    connect: (address, options) => connectVia(connectRoute(binding), address, options),
  })
}

/** A Fetcher: fetch() and connect() as given; any other method is RPC, which wharf does not run. */
function fetcher(
  label: string,
  methods: {
    fetch: Fetch
    connect: (address: SocketAddress | string, options?: SocketOptions) => unknown
  }
): object {
  const target = Object.freeze({
    fetch: methods.fetch,
    connect: (address: SocketAddress | string, options?: SocketOptions) => {
      // workerd's own check: a connect() handler receives plain TCP only.
      if (options?.secureTransport === 'on') throw new Error(INBOUND_TLS)
      return methods.connect(address, options)
    },
  })
  return new Proxy(target, {
    get(object, key) {
      if (typeof key === 'symbol' || key in object || NOT_RPC.has(key)) {
        return Reflect.get(object, key) as unknown
      }
      return () => Promise.reject(new WharfRpcUnsupportedError(label, key))
    },
  })
}

/**
 * Cloudflare's error for a name that is no user Worker of the namespace. `get()` never throws
 * it; the returned Fetcher's calls do (Cloudflare's dynamic-dispatch docs match
 * `e.message.startsWith('Worker not found')` around `fetch()`).
 */
export const WORKER_NOT_FOUND = 'Worker not found.'

/** `env.BINDING` for a `dispatch_namespaces` binding: `get(name, args?, { outbound? })`. */
export function dispatchNamespace(
  index: number,
  info: { binding: string; scripts: readonly string[]; parameters: readonly string[] },
  dialVia: DialVia,
  connectTimeoutMs: number,
  limit: (fetch: Fetch) => Fetch = (f) => f
): object {
  // One routed fetch() per user Worker, made on first use, whatever get() returned it.
  const routes: RoutedFetch[] = []
  const get = (name: unknown, _args?: unknown, options?: unknown): object => {
    if (typeof name !== 'string') {
      throw new TypeError(`env.${info.binding}.get(): the first argument must be a Worker's name`)
    }
    const label = `${info.binding}.get(${JSON.stringify(name.slice(0, 64))})`
    const script = info.scripts.indexOf(name)
    if (script < 0) {
      return fetcher(label, {
        fetch: () => Promise.reject(new Error(WORKER_NOT_FOUND)),
        connect: () => {
          throw new Error(WORKER_NOT_FOUND)
        },
      })
    }
    const params = outboundParams(info, options)
    const routed = (routes[script] ??= routedFetchWith(
      dispatchFetchRoute(index, script),
      dialVia,
      connectTimeoutMs
    ))
    return fetcher(label, {
      fetch: limit((input, init) => routed(input, init, params)),
      connect: (address, options) =>
        connectVia(dispatchConnectRoute(index, script), address, options),
    })
  }
  return Object.freeze({ get })
}

/** The `outbound` values of `get()`'s options that the binding names in `parameters`, as JSON. */
function outboundParams(
  info: { binding: string; parameters: readonly string[] },
  options: unknown
): string | undefined {
  const given = (options as { outbound?: unknown } | undefined)?.outbound
  if (given === undefined || given === null || info.parameters.length === 0) return undefined
  if (typeof given !== 'object') {
    throw new TypeError(`env.${info.binding}.get(): options.outbound must be an object`)
  }
  const picked: Record<string, unknown> = {}
  for (const name of info.parameters) {
    if (Object.hasOwn(given, name)) picked[name] = (given as Record<string, unknown>)[name]
  }
  const json = JSON.stringify(picked)
  if (json.length > MAX_OUTBOUND_PARAMS) {
    throw new RangeError(
      `env.${info.binding}.get(): the outbound parameters are over ${MAX_OUTBOUND_PARAMS} bytes as JSON`
    )
  }
  return json
}

/**
 * The Outbound Worker's fetch(), which becomes the user Worker's global `fetch()`. Each request
 * carries the outbound parameters of the dispatch its request came with.
 */
export function outboundFetch(dialVia: DialVia, connectTimeoutMs: number): typeof fetch {
  return routedFetch(
    OUTBOUND_FETCH,
    dialVia,
    connectTimeoutMs,
    () => currentScope()?.outboundParams
  )
}
