/**
 * `vpc_networks` and `vpc_services` bindings as the Worker sees them, in Cloudflare's shapes:
 * a network binding has `connect(address, options)` and `fetch()` to any host the tunnel's
 * connector allows; an `http` service binding has `fetch()`, which goes to the service's host
 * whatever host its URL names. Every connection is a socket of the request (it counts toward the
 * per-request limit) whose flow the supervisor opens through the tunnel.
 */
import type { Socket } from 'node:net'
import tls from 'node:tls'
import { connect, type SocketAddress, type SocketOptions } from '@wharf/sockets'
import { unbracketHost } from '@wharf/sockets/runtime'
import { Agent } from 'undici'
import type { VpcBindingInfo } from '../protocol.js'

export type DialVia = (
  via: string,
  target: { hostname: string; port: number },
  signal: AbortSignal
) => Promise<Socket>

// connect() asks the socket runtime for its terms synchronously, so the binding being used is
// handed over in a variable that lives exactly as long as that call.
let routeNext: string | undefined

/** The binding the current `connect()` goes through, if any (read once, by the socket runtime). */
export function takeRoute(): string | undefined {
  const route = routeNext
  routeNext = undefined
  return route
}

export function connectVia(
  binding: string,
  address: SocketAddress | string,
  options?: SocketOptions
): ReturnType<typeof connect> {
  routeNext = binding
  try {
    return connect(address, options)
  } finally {
    routeNext = undefined
  }
}

function agentFor(info: VpcBindingInfo, dialVia: DialVia, connectTimeoutMs: number): Agent {
  const service = info.service
  return new Agent({
    connectTimeout: connectTimeoutMs,
    connect: (options, callback) => {
      const https = service === undefined ? options.protocol === 'https:' : service.https
      const hostname = service?.host ?? unbracketHost(options.hostname)
      const port = service?.port ?? (Number(options.port) || (https ? 443 : 80))
      dialVia(info.binding, { hostname, port }, AbortSignal.timeout(connectTimeoutMs)).then(
        (socket) => {
          if (!https) {
            callback(null, socket)
            return
          }
          const mode = service?.certVerification ?? 'verify_full'
          const secure = tls.connect({
            socket,
            servername: hostname,
            ALPNProtocols: ['http/1.1'],
            rejectUnauthorized: mode !== 'disabled',
            ...(mode === 'verify_ca' ? { checkServerIdentity: () => undefined } : {}),
          })
          secure.once('secureConnect', () => callback(null, secure))
          secure.once('error', (error: Error) => callback(error, null))
        },
        (error: Error) => callback(error, null)
      )
    },
  })
}

export function vpcBinding(
  info: VpcBindingInfo,
  dialVia: DialVia,
  connectTimeoutMs: number
): object {
  let agent: Agent | undefined
  const fetchVia = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    agent ??= agentFor(info, dialVia, connectTimeoutMs)
    // Node's fetch takes an npm undici dispatcher (the host routes every fetch this way); only
    // the two packages' type declarations differ.
    const withDispatcher: Record<string, unknown> = { ...init, dispatcher: agent }
    return fetch(input, withDispatcher)
  }
  if (info.kind === 'network') {
    return {
      connect: (address: SocketAddress | string, options?: SocketOptions) =>
        connectVia(info.binding, address, options),
      fetch: fetchVia,
    }
  }
  return {
    fetch: fetchVia,
    connect: () => {
      throw new TypeError(
        `env.${info.binding} is a VPC service binding: use fetch() (connect() is offered on VPC network bindings)`
      )
    },
  }
}
