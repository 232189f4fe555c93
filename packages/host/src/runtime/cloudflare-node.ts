/**
 * `cloudflare:node` as workerd gives it: `httpServerHandler()` and `handleAsNodeRequest()` hand a
 * Worker's requests to a `node:http` server that called `listen(port)` (a Worker-local port, see
 * runtime/node/http.ts), so an Express or plain `node:http` app runs as a Worker unmodified.
 *
 * Each request goes through Node's own HTTP machinery on an in-memory connection: the client
 * half (`http.request`) writes the Request, the server parses it and runs the app, and the client
 * parses the app's response into a Response, streaming both ways. workerd does the same: its
 * Response carries the server's framing headers (`connection`, `content-length`,
 * `transfer-encoding`).
 *
 * `connectHandler()` / `handleAsNodeConnection()` (a `net.Server` behind a `connect()` handler)
 * are not provided: they throw `ERR_WHARF_NOT_IMPLEMENTED` when called.
 *
 * @module
 */
import http from 'node:http'
import { Duplex, Readable } from 'node:stream'
import { WharfNotImplementedError } from '../errors.js'
import { failRequestsOn, serverOnPort, type Server } from './node/http.js'

/** Statuses whose Response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

/**
 * Two connected in-memory streams: what one writes the other reads, and `end()` on one is EOF on
 * the other. Node 22 has `stream.duplexPair()`; Node 20 does not.
 */
function connectionPair(): [Duplex, Duplex] {
  const ends: Duplex[] = []
  const make = (index: 0 | 1): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        ends[1 - index]?.push(chunk)
        done()
      },
      final(done) {
        ends[1 - index]?.push(null)
        done()
      },
      destroy(error, done) {
        const peer = ends[1 - index]
        if (peer && !peer.destroyed) peer.destroy()
        done(error)
      },
    })
  ends.push(make(0), make(1))
  return [ends[0] as Duplex, ends[1] as Duplex]
}

/** The server end as the app sees it on `req.socket`: a local connection, as on workerd. */
function asLocalSocket(end: Duplex, encrypted: boolean): Duplex {
  Object.assign(end, {
    remoteAddress: '127.0.0.1',
    remoteFamily: 'IPv4',
    remotePort: 0,
    localAddress: '127.0.0.1',
    encrypted,
    setTimeout: () => end,
    setNoDelay: () => end,
    setKeepAlive: () => end,
  })
  return end
}

/** workerd's error for a port no server listens on. */
function noServer(port: number): Error {
  return new Error(
    `Http server with port ${port} not found. This is likely a bug with your code. You should check if server.listen() was called with the same port (${port})`
  )
}

/** The connection's own headers: this in-memory connection has its own (kept alive, as workerd). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive'])

function headersOf(request: Request, url: URL): string[] {
  const headers: string[] = []
  let host = false
  for (const [name, value] of request.headers) {
    if (HOP_BY_HOP.has(name)) continue
    if (name === 'host') host = true
    headers.push(name, value)
  }
  if (!host) headers.push('host', url.host)
  headers.push('connection', 'keep-alive')
  return headers
}

/** Runs `request` through the `node:http` server listening on Worker-local `port`. */
export function handleAsNodeRequest(port: number, request: Request): Promise<Response> {
  const server = serverOnPort(port)
  if (server === undefined) return Promise.reject(noServer(port))
  const url = new URL(request.url)
  const [clientEnd, serverEnd] = connectionPair()
  return new Promise<Response>((resolve, reject) => {
    const fail = (error: unknown): void => {
      clientEnd.destroy()
      reject(error instanceof Error ? error : new Error(String(error)))
    }
    // A synchronous throw of the app's handler rejects this request (workerd: a 500).
    failRequestsOn(serverEnd, fail)
    const outgoing = http.request({
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: headersOf(request, url),
      setHost: false,
      createConnection: () => clientEnd,
    })
    outgoing.on('error', fail)
    outgoing.on('response', (incoming: http.IncomingMessage) => {
      const headers = new Headers()
      const raw = incoming.rawHeaders
      for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] ?? '', raw[i + 1] ?? '')
      const status = incoming.statusCode ?? 500
      const empty = NULL_BODY.has(status) || request.method === 'HEAD'
      const body = empty ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>)
      if (empty) incoming.resume()
      incoming.once('end', () => clientEnd.destroy())
      try {
        resolve(new Response(body, { status, statusText: incoming.statusMessage ?? '', headers }))
      } catch (error) {
        fail(error)
      }
    })
    server.emit('connection', asLocalSocket(serverEnd, url.protocol === 'https:'))
    if (request.body === null) {
      outgoing.end()
    } else {
      const source = Readable.fromWeb(request.body as never)
      source.on('error', (error) => outgoing.destroy(error))
      source.pipe(outgoing)
    }
  })
}

type ServerLike = Pick<Server, 'address'>

/**
 * A Worker's default export that serves every request with the `node:http` server on `port`:
 * `httpServerHandler({ port })`, `httpServerHandler(port)` or `httpServerHandler(server)` (the
 * port it listens on when the request arrives).
 */
export function httpServerHandler(target: number | { port: number } | ServerLike): {
  fetch(request: Request): Promise<Response>
} {
  // workerd's checks and messages, made when the handler is made.
  if (target === null || target === undefined)
    throw new Error('Server descriptor cannot be null or undefined')
  const undetermined = (): Error => new Error('Failed to determine port for server')
  let portNow: () => number
  if (typeof target === 'number') portNow = () => target
  else if (typeof target === 'object' && typeof (target as { port?: unknown }).port === 'number')
    portNow = () => (target as { port: number }).port
  else if (typeof target === 'object' && typeof (target as ServerLike).address === 'function') {
    // A server that listens later (or again): its port when each request arrives.
    portNow = () => {
      const address = (target as ServerLike).address()
      if (address === null) throw undetermined()
      return address.port
    }
  } else throw undetermined()
  // async: a port that cannot be determined rejects the request's promise, never throws.
  return { fetch: async (request: Request) => handleAsNodeRequest(portNow(), request) }
}

function notProvided(name: string): () => never {
  return () => {
    throw new WharfNotImplementedError(`cloudflare:node ${name}()`)
  }
}

export const connectHandler = notProvided('connectHandler')
export const handleAsNodeConnection = notProvided('handleAsNodeConnection')

export default { connectHandler, handleAsNodeConnection, handleAsNodeRequest, httpServerHandler }
