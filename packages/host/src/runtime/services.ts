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
import { URL_HEADER, connectRoute, fetchRoute, OUTBOUND_FETCH } from '../services/routes.js'
import { connectVia, type DialVia } from './vpc-bindings.js'
import { WharfRpcUnsupportedError } from '../errors.js'

/** Node's own fetch, before the host wraps the global one (counting, Outbound Worker). */
const nativeFetch = globalThis.fetch

/** workerd's error for `secureTransport: 'on'` through a service binding (thrown by connect()). */
export const INBOUND_TLS = 'Incoming CONNECT with TLS not supported'

/** Properties that must not look like RPC methods (promise detection, JSON, inspection). */
const NOT_RPC = new Set(['then', 'toJSON', 'inspect', 'asymmetricMatch', '$$typeof'])

/** A `fetch()` whose connections come from `route` (an HTTP connection to another Worker). */
export function routedFetch(
  route: string,
  dialVia: DialVia,
  connectTimeoutMs: number
): (input: Request | string | URL, init?: RequestInit) => Promise<Response> {
  let agent: Agent | undefined
  return async (input, init) => {
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
  limit: (fetch: ReturnType<typeof routedFetch>) => ReturnType<typeof routedFetch> = (f) => f
): object {
  const target = Object.freeze({
    fetch: limit(routedFetch(fetchRoute(binding), dialVia, connectTimeoutMs)),
    connect: (address: SocketAddress | string, options?: SocketOptions) => {
      // workerd's own check: a connect() handler receives plain TCP only.
      if (options?.secureTransport === 'on') throw new Error(INBOUND_TLS)
      return connectVia(connectRoute(binding), address, options)
    },
  })
  return new Proxy(target, {
    get(object, key) {
      if (typeof key === 'symbol' || key in object || NOT_RPC.has(key)) {
        return Reflect.get(object, key) as unknown
      }
      return () => Promise.reject(new WharfRpcUnsupportedError(binding, key))
    },
  })
}

/** The Outbound Worker's fetch(), which becomes the user Worker's global `fetch()`. */
export function outboundFetch(dialVia: DialVia, connectTimeoutMs: number): typeof fetch {
  return routedFetch(OUTBOUND_FETCH, dialVia, connectTimeoutMs)
}
