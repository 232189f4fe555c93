/**
 * `node:http` for Worker code, as workerd gives it: Node's own module, with two changes.
 *
 * - A server's `listen()` binds nothing. It registers the server on a Worker-local port, where
 *   `cloudflare:node`'s `httpServerHandler()` and `handleAsNodeRequest()` find it
 *   (runtime/cloudflare-node.ts). A Worker cannot accept connections from the network, and on
 *   the host it must not: under `--isolation none` a real bind would listen on the host's ports.
 * - A client request's connection is opened the way `fetch()`'s are (`routeClientConnections`):
 *   through the dial broker and the egress policy. Node's own Agent would connect from this
 *   process, which isolated has no network, and which unisolated would skip the policy.
 */
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { unbracketHost } from '@wharf/sockets/runtime'

/** Opens a connection as `fetch()` does (set by the runtime at start-up). */
export type OpenConnection = (
  target: { hostname: string; port: number },
  signal?: AbortSignal
) => Promise<Socket>

let openConnection: OpenConnection | undefined
let connectTimeoutMs = 30_000

/** Every Worker `node:http`/`node:https` client connection is opened by `open`. */
export function routeClientConnections(open: OpenConnection, timeoutMs: number): void {
  openConnection = open
  connectTimeoutMs = timeoutMs
}

type ConnectionCallback = (error: Error | null, socket?: Duplex) => void

/** Opens `options`' host and port through the broker; `secure` wraps the socket in TLS. */
export function brokeredConnection(
  options: {
    host?: string | null
    hostname?: string | null
    port?: number | string | null
    socketPath?: string | null
  },
  callback: ConnectionCallback,
  secure?: (socket: Socket) => Duplex
): void {
  const open = openConnection
  if (open === undefined) {
    callback(new Error('wharf: node:http has no connection route in this process'))
    return
  }
  // A local socket file is the host's, not the network's: no Worker may open one.
  if (typeof options.socketPath === 'string') {
    callback(new Error('wharf: node:http socketPath is not available to a Worker'))
    return
  }
  const hostname = unbracketHost(options.hostname ?? options.host ?? 'localhost')
  const port = Number(options.port) || (secure ? 443 : 80)
  open({ hostname, port }, AbortSignal.timeout(connectTimeoutMs)).then(
    (socket) => {
      callback(null, secure ? secure(socket) : socket)
      // The broker hands sockets over paused (unread). Resumed after the callback, whose
      // request attaches its 'data' listener first (both on the next tick, in this order).
      socket.resume()
    },
    (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)))
  )
}

export class Agent extends http.Agent {
  // Node's Agent takes the callback form: the socket arrives once the broker has dialled.
  override createConnection(options: object, callback: ConnectionCallback): undefined {
    brokeredConnection(options, callback)
    return undefined
  }
}

// As Node's own global agents: idle sockets are kept for 5 s.
export const globalAgent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000 })

type RequestArgs = [unknown, unknown?, unknown?]

/**
 * Node's (url?, options?, callback?) with `agent` made explicit: this module's when unset, a new
 * one for `agent: false` (Node would make its own), the caller's own otherwise. `https.request`
 * overwrites `_defaultAgent`, so the default has to be the `agent` option itself.
 */
export function withAgent(args: RequestArgs, fallback: http.Agent): unknown[] {
  const [first, second, third] = args
  const pick = (options: { agent?: unknown; createConnection?: unknown }): object => {
    if (typeof options.createConnection === 'function') return options
    if (options.agent === false)
      return { ...options, agent: new (fallback.constructor as new () => http.Agent)() }
    if (options.agent === undefined || options.agent === null)
      return { ...options, agent: fallback }
    return options
  }
  if (typeof first === 'string' || first instanceof URL) {
    if (typeof second === 'object' && second !== null) return [first, pick(second), third]
    return [first, pick({}), second]
  }
  return [pick(first ?? {}), second]
}

export function request(...args: RequestArgs): http.ClientRequest {
  return (http.request as (...a: unknown[]) => http.ClientRequest)(...withAgent(args, globalAgent))
}

export function get(...args: RequestArgs): http.ClientRequest {
  const req = request(...args)
  req.end()
  return req
}

/** workerd's first port for `listen()` / `listen(0)`. */
const FIRST_EPHEMERAL_PORT = 49152
const MAX_PORT = 65535

const listening = new Map<number, Server>()
let nextEphemeral = FIRST_EPHEMERAL_PORT

/** The server registered on `port` by `listen()`, if any. */
export function serverOnPort(port: number): Server | undefined {
  return listening.get(port)
}

type ListenCallback = () => void

/** Per connection of handleAsNodeRequest: what a synchronous throw of the app's handler does. */
const requestFailures = new WeakMap<object, (error: unknown) => void>()

export function failRequestsOn(connection: object, fail: (error: unknown) => void): void {
  requestFailures.set(connection, fail)
}

function portOf(value: unknown): number | undefined {
  if (value === undefined || value === null || value === 0 || value === '0') return 0
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= MAX_PORT)
    return port
  return undefined
}

function ephemeralPort(): number {
  for (let tries = 0; tries <= MAX_PORT - FIRST_EPHEMERAL_PORT; tries++) {
    const port = nextEphemeral
    nextEphemeral = port >= MAX_PORT ? FIRST_EPHEMERAL_PORT : port + 1
    if (!listening.has(port)) return port
  }
  throw Object.assign(new Error('listen EADDRINUSE: no free Worker-local port'), {
    code: 'EADDRINUSE',
  })
}

/** workerd's error for a second `listen()` on a port in use (thrown, as workerd does). */
function addressInUse(port: number): Error {
  return Object.assign(new Error(`bind EADDRINUSE 127.0.0.1:${port}`), {
    code: 'EADDRINUSE',
    errno: -98,
    syscall: 'bind',
    address: '127.0.0.1',
    port,
  })
}

export class Server extends http.Server {
  #port: number | undefined

  constructor(...args: unknown[]) {
    super(...(args as []))
    // Responses leave through handleAsNodeRequest, never a socket of their own: no Keep-Alive
    // header (workerd sends none) and no idle timers to keep the runtime busy.
    this.keepAliveTimeout = 0
    this.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.sendDate = false
      // workerd's reason phrase when the handler sets none (`200 unknown`).
      res.statusMessage = 'unknown'
    })
  }

  // The app's 'request' listeners run inside Node's parser callback: a throw there would be an
  // uncaught exception of the runtime, and the request would never be answered.
  override emit(event: string, ...args: unknown[]): boolean {
    if (event !== 'request') return super.emit(event, ...args)
    try {
      return super.emit(event, ...args)
    } catch (error) {
      const fail = requestFailures.get((args[0] as http.IncomingMessage).socket)
      if (fail === undefined) throw error
      fail(error)
      return true
    }
  }

  // One signature for Node's overloads: (port?, host?, backlog?, cb?), (options, cb?), (cb).
  override listen(...args: unknown[]): this {
    const last = args[args.length - 1]
    const callback = typeof last === 'function' ? (last as ListenCallback) : undefined
    const first = args[0]
    const requested =
      typeof first === 'object' && first !== null
        ? portOf((first as { port?: unknown }).port)
        : typeof first === 'function'
          ? 0
          : portOf(first)
    if (requested === undefined) {
      throw Object.assign(
        new RangeError(
          `options.port should be >= 0 and < 65536. Received ${typeof first === 'string' ? `type string ('${first}')` : String(first)}.`
        ),
        { code: 'ERR_SOCKET_BAD_PORT' }
      )
    }
    if (requested !== 0 && listening.has(requested)) throw addressInUse(requested)
    if (this.#port !== undefined) listening.delete(this.#port)
    const port = requested === 0 ? ephemeralPort() : requested
    this.#port = port
    listening.set(port, this)
    if (callback) this.once('listening', callback)
    queueMicrotask(() => {
      if (this.#port === port) this.emit('listening')
    })
    return this
  }

  // Node's `listening` is a getter that reads the handle, of which there is none here.
  static {
    Object.defineProperty(this.prototype, 'listening', {
      get(this: Server) {
        return this.#port !== undefined
      },
      configurable: true,
    })
  }

  override address(): { port: number; family: string; address: string } | null {
    return this.#port === undefined
      ? null
      : { port: this.#port, family: 'IPv4', address: '127.0.0.1' }
  }

  // workerd calls back without an error even when the server was not listening.
  override close(callback?: (error?: Error) => void): this {
    if (this.#port !== undefined && listening.get(this.#port) === this) listening.delete(this.#port)
    this.#port = undefined
    this.closeAllConnections()
    queueMicrotask(() => {
      this.emit('close')
      callback?.()
    })
    return this
  }
}

export function createServer(...args: unknown[]): Server {
  return new Server(...args)
}

export * from 'node:http'

export default { ...http, Agent, Server, createServer, get, globalAgent, request }
