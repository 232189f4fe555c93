/**
 * `node:https` for Worker code: Node's own module, with client connections opened through the
 * dial broker and wrapped in TLS here (as `fetch()`'s are), and servers that bind nothing (the
 * Worker-local `node:http` server; TLS options are not used, a Worker's requests arrive as HTTP).
 */
import https from 'node:https'
import tls from 'node:tls'
import { Server, brokeredConnection, createServer, withAgent } from './http.js'

type ConnectionCallback = Parameters<typeof brokeredConnection>[1]

export class Agent extends https.Agent {
  override createConnection(
    options: tls.ConnectionOptions,
    callback: ConnectionCallback
  ): undefined {
    brokeredConnection(options, callback, (socket) =>
      tls.connect({
        ...options,
        socket,
        servername: options.servername ?? (options.host ? stripBrackets(options.host) : undefined),
      })
    )
    return undefined
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

// As Node's own global agents: idle sockets are kept for 5 s.
export const globalAgent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000 })

type RequestArgs = [unknown, unknown?, unknown?]

export function request(...args: RequestArgs): ReturnType<typeof https.request> {
  return (https.request as (...a: unknown[]) => ReturnType<typeof https.request>)(
    ...withAgent(args, globalAgent)
  )
}

export function get(...args: RequestArgs): ReturnType<typeof https.request> {
  const req = request(...args)
  req.end()
  return req
}

export { Server, createServer }

export * from 'node:https'

export default { ...https, Agent, Server, createServer, get, globalAgent, request }
