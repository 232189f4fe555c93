/**
 * The connect() handler's side: a connection handed in by the supervisor (a service binding's
 * `connect()`, or an inbound TCP listener's) becomes a `cloudflare:sockets` Socket of a new
 * request, passed to the Worker's `connect(socket, env, ctx)`. The socket holds one of that
 * request's socket slots, like any socket the request opens.
 */
import type { Socket as NodeSocket } from 'node:net'
import { connect, type Socket } from '@wharf/sockets'
import type { ExecutionContext } from './cloudflare-workers.js'
import type { InboundConnection } from '../protocol.js'
import { RequestScope, requestStore } from './request-scope.js'
import type { SocketLimiter } from './socket-runtime.js'
import { noHandler, type LoadedWorker } from './worker-module.js'

interface HandedIn {
  readonly socket: NodeSocket
  readonly info: { readonly remoteAddress?: string; readonly localAddress?: string }
}

// connect() asks the socket runtime for its terms synchronously: the connection being handed in
// lives in this variable exactly as long as that call (as vpc-bindings.ts hands over a route).
let handedIn: HandedIn | undefined

/** The connection the current `connect()` call wraps, if any (read once, by the socket runtime). */
export function takeHandedIn(): HandedIn | undefined {
  const current = handedIn
  handedIn = undefined
  return current
}

/** Placeholder address for the parser; `opened` reports `info` instead. */
const PLACEHOLDER = 'inbound.invalid:1'

function wrap(socket: NodeSocket, info: HandedIn['info']): Socket {
  handedIn = { socket, info }
  try {
    // Half-open, as workerd's handler socket: the handler may answer after the peer's EOF.
    return connect(PLACEHOLDER, { allowHalfOpen: true })
  } finally {
    handedIn = undefined
  }
}

function stack(error: unknown): string {
  return error instanceof Error ? (error.stack ?? String(error)) : String(error)
}

export interface InboundHost {
  readonly worker: LoadedWorker
  readonly limiter: SocketLimiter
  readonly waitUntilTimeoutMs: number
  nextId(): number
  reply(id: number, ok: boolean): void
  /**
   * A request began (keeps a draining runtime alive meanwhile); the function it returns is
   * called once when it ends, with what its log line says.
   */
  began(): (ended: InboundSummary) => void
}

/** One connect() request, for its log line. */
export interface InboundSummary {
  /** The address the caller passed, or the listener's. */
  readonly address: string
  /** The TCP client's address (`wharf.tcp` only). */
  readonly from?: string
  readonly ms: number
}

/** Serves one handed-in connection. Never throws. */
export function serveInbound(
  host: InboundHost,
  message: InboundConnection,
  handle: NodeSocket
): void {
  const connectHandler = host.worker.handlers(message.entrypoint)?.connect
  if (connectHandler === undefined) {
    // workerd's log line and outcome: the caller's socket fails with the generic error.
    console.error(
      `[wharf:error] Received a connect event but we lack a handler. Did you remember to export a connect() function? (${noHandler('connect')})`
    )
    handle.destroy()
    host.reply(message.id, false)
    return
  }
  host.reply(message.id, true)
  const ended = host.began()
  const started = performance.now()
  const scope = new RequestScope(host.nextId())
  const ctx: ExecutionContext = {
    waitUntil: (promise) => scope.waitUntil(promise),
    passThroughOnException: () => undefined,
    props: {},
  }
  // The peer went away (or half-closed): a handler that already returned is done with it.
  const gone = new Promise<void>((resolve) => {
    handle.once('close', () => resolve())
    handle.once('end', () => resolve())
  })
  void requestStore
    .run(scope, async () => {
      let socket: Socket | undefined
      try {
        socket = wrap(handle, {
          remoteAddress: message.remoteAddress,
          localAddress: message.localAddress,
        })
        await connectHandler(socket, ctx)
        await Promise.race([socket.closed.catch(() => undefined), gone])
      } catch (error) {
        console.error(`[wharf:error] ${stack(error)}`)
      } finally {
        if (!(await scope.settled(host.waitUntilTimeoutMs))) {
          console.error(
            `[wharf:warn] waitUntil() still pending ${host.waitUntilTimeoutMs} ms after the connect() handler; ending the request`
          )
        }
        await host.limiter.endScope(scope)
        // Also when the socket never got a slot (queue timeout): the descriptor is ours to close.
        handle.destroy()
      }
    })
    .catch((error: unknown) => console.error(`[wharf:error] ${stack(error)}`))
    .finally(() => {
      ended({
        address: message.localAddress ?? '',
        ...(message.remoteAddress === undefined ? {} : { from: message.remoteAddress }),
        ms: performance.now() - started,
      })
    })
}
