/**
 * The supervisor's side of service bindings: which runtime process each Worker of the host runs
 * in now (it changes on reload), and the broker routes a Worker's bindings use. A `connect()`
 * gets a local socket pair: one end goes to the callee's connect() handler, and once the callee
 * took it, the other end goes back to the caller through the ordinary dial reply. A `fetch()`
 * gets a pair too, whose callee end is an HTTP connection for the callee's fetch() handler.
 * A Worker is anything that can take such connections: one runtime process under `wharf dev`,
 * a pool of them under `wharf serve` (which picks one per connection).
 */
import type net from 'node:net'
import { socketPair } from '../socket-pair.js'
import type { InboundConnection } from '../protocol.js'
import type { Route } from '../tunnels.js'
import type { ServicesConfig } from './config.js'
import type { NamespaceMembers } from './dispatch.js'
import {
  OUTBOUND_CONNECT,
  OUTBOUND_FETCH,
  authority,
  connectRoute,
  dispatchConnectRoute,
  dispatchFetchRoute,
  fetchRoute,
} from './routes.js'

/** What serves a Worker's service connections (a WorkerProcess, or serve's RuntimePool). */
export interface ServiceTarget {
  /**
   * Gives `socket` to the connect() handler: true once taken, false when there is none (the
   * socket is then closed); rejects when no runtime can take it or `signal` fires.
   */
  inbound(
    socket: net.Socket,
    info: Omit<InboundConnection, 't' | 'id'>,
    signal: AbortSignal
  ): Promise<boolean>
  /** An HTTP connection for the fetch() handler; false (socket untouched) when none can take it. */
  handOffService(socket: net.Socket, entrypoint: string | undefined): boolean
}

export class ServiceHub {
  private readonly workers = new Map<string, () => ServiceTarget | undefined>()

  /** Makes `name` reachable; `current` answers with what serves it at the moment. */
  register(name: string, current: () => ServiceTarget | undefined): void {
    this.workers.set(name, current)
  }

  has(name: string): boolean {
    return this.workers.has(name)
  }

  /**
   * The routes for one Worker's `services` and `dispatch_namespaces` bindings and its Outbound
   * Worker (by its name).
   */
  routesFor(
    services: ServicesConfig,
    outboundName?: string,
    members: NamespaceMembers = new Map()
  ): Map<string, Route> {
    const routes = new Map<string, Route>()
    for (const b of services.bindings) {
      routes.set(connectRoute(b.binding), this.connectTo(b.service, b.entrypoint))
      routes.set(fetchRoute(b.binding), this.fetchTo(b.service, b.entrypoint))
    }
    services.dispatch.forEach((d, i) => {
      members.get(d.namespace)?.forEach((script, j) => {
        routes.set(dispatchConnectRoute(i, j), this.connectTo(script, undefined))
        routes.set(dispatchFetchRoute(i, j), this.fetchTo(script, undefined))
      })
    })
    if (outboundName !== undefined) {
      routes.set(OUTBOUND_CONNECT, this.connectTo(outboundName, undefined))
      routes.set(OUTBOUND_FETCH, this.fetchTo(outboundName, undefined))
    }
    return routes
  }

  private running(name: string): ServiceTarget {
    const worker = this.workers.get(name)?.()
    if (worker === undefined) throw new Error(`the Worker "${name}" is not running`)
    return worker
  }

  /** Hands a connection the supervisor accepted (inbound TCP) to `name`'s connect() handler. */
  async accept(
    name: string,
    socket: net.Socket,
    info: { entrypoint?: string; localAddress: string; remoteAddress?: string },
    signal: AbortSignal
  ): Promise<boolean> {
    let worker: ServiceTarget
    try {
      worker = this.running(name)
    } catch {
      socket.destroy()
      return false
    }
    return worker.inbound(socket, info, signal)
  }

  private connectTo(name: string, entrypoint: string | undefined): Route {
    return async (hostname, port, signal) => {
      const worker = this.running(name)
      const [caller, callee] = await socketPair()
      let ok: boolean
      try {
        ok = await worker.inbound(
          callee,
          {
            ...(entrypoint === undefined ? {} : { entrypoint }),
            localAddress: authority(hostname, port),
          },
          signal
        )
      } catch (error) {
        caller.destroy()
        throw error
      }
      if (!ok) {
        caller.destroy()
        throw new Error(
          `the Worker "${name}"${entrypoint === undefined ? '' : ` (entrypoint ${entrypoint})`} has no connect() handler`
        )
      }
      return caller
    }
  }

  private fetchTo(name: string, entrypoint: string | undefined): Route {
    return async () => {
      const worker = this.running(name)
      const [caller, callee] = await socketPair()
      if (!worker.handOffService(callee, entrypoint)) {
        callee.destroy()
        caller.destroy()
        throw new Error(`the Worker "${name}" is not running`)
      }
      return caller
    }
  }
}
