/**
 * The supervisor's side of service bindings: which runtime process each Worker of the host runs
 * in now (it changes on reload), and the broker routes a Worker's bindings use. A `connect()`
 * gets a local socket pair: one end goes to the callee's connect() handler, and once the callee
 * took it, the other end goes back to the caller through the ordinary dial reply. A `fetch()`
 * gets a pair too, whose callee end is an HTTP connection for the callee's fetch() handler.
 */
import type net from 'node:net'
import { socketPair } from '../socket-pair.js'
import type { WorkerProcess } from '../supervisor.js'
import type { Route } from '../tunnels.js'
import type { ServicesConfig } from './config.js'
import { OUTBOUND_CONNECT, OUTBOUND_FETCH, authority, connectRoute, fetchRoute } from './routes.js'

export class ServiceHub {
  private readonly workers = new Map<string, () => WorkerProcess | undefined>()

  /** Makes `name` reachable; `current` answers with the runtime serving it at the moment. */
  register(name: string, current: () => WorkerProcess | undefined): void {
    this.workers.set(name, current)
  }

  has(name: string): boolean {
    return this.workers.has(name)
  }

  /** The routes for one Worker's `services` bindings and Outbound Worker (by its name). */
  routesFor(services: ServicesConfig, outboundName?: string): Map<string, Route> {
    const routes = new Map<string, Route>()
    for (const b of services.bindings) {
      routes.set(connectRoute(b.binding), this.connectTo(b.service, b.entrypoint))
      routes.set(fetchRoute(b.binding), this.fetchTo(b.service, b.entrypoint))
    }
    if (outboundName !== undefined) {
      routes.set(OUTBOUND_CONNECT, this.connectTo(outboundName, undefined))
      routes.set(OUTBOUND_FETCH, this.fetchTo(outboundName, undefined))
    }
    return routes
  }

  private running(name: string): WorkerProcess {
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
    let worker: WorkerProcess
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
