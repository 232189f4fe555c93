/**
 * The Workers of a `wharf serve` host other than the primary (`-c` more than once, and an
 * Outbound Worker's `main`): each is built once per version and runs on a runtime pool of its
 * own, with its own limits, metrics and replacement of stopped runtimes. They have no listener:
 * service bindings, an Outbound Worker's routes and `wharf.tcp` reach them (services/hub.ts).
 */
import type { WorkerConfig } from '../config.js'
import type { Isolation } from '../isolation.js'
import type { RuntimeData } from '../protocol.js'
import type { Sandbox } from '../sandbox.js'
import { buildWorker } from '../bundle/index.js'
import { outboundOf, serviceRuntimeData, warnUnsupported } from '../services/workers.js'
import type { NamespaceMembers } from '../services/dispatch.js'
import type { Route } from '../tunnels.js'
import type { HostSockets } from './host-sockets.js'
import type { LogFormat, ServeLog } from './log.js'
import { ServeMetrics } from './metrics.js'
import { RuntimePool } from './runtime-pool.js'
import { sharedSocketsFor } from './shared-sockets.js'
import type { ServeSettings } from './settings.js'

type Bundle = Awaited<ReturnType<typeof buildWorker>>

export interface ServedWorkerOptions {
  readonly name: string
  readonly config: WorkerConfig
  readonly settings: ServeSettings
  readonly isolation: Isolation
  readonly sandbox: Sandbox
  readonly hostSockets: HostSockets
  readonly log: ServeLog
  readonly logFormat: LogFormat
  /** Its service bindings' and Outbound Worker's routes. */
  readonly routes: ReadonlyMap<string, Route>
  readonly origin: string
  readonly hostAddresses: RuntimeData['hostAddresses']
  readonly env?: string
  readonly allow: readonly string[]
  readonly deny: readonly string[]
  /** Each dispatch namespace's user Workers (services/dispatch.ts). */
  readonly members: NamespaceMembers
}

export class ServedWorker {
  readonly metrics: ServeMetrics
  readonly pool: RuntimePool
  private bundle: Bundle | undefined

  private constructor(private readonly options: ServedWorkerOptions) {
    this.metrics = new ServeMetrics(options.name)
    const sharedSockets = sharedSocketsFor(
      options.name,
      options.settings.sharedSockets,
      options.config.limits.queueTimeoutMs,
      options.log
    )
    this.pool = new RuntimePool({
      ...(sharedSockets === undefined ? {} : { sharedSockets }),
      isolation: options.isolation,
      sandbox: options.sandbox,
      settings: options.settings,
      metrics: this.metrics,
      hostSockets: options.hostSockets,
      log: options.log,
      name: options.name,
    })
    this.pool.serviceRoutes = options.routes
  }

  get name(): string {
    return this.options.name
  }

  /** Builds the Worker and starts its runtimes; rejects (nothing left running) if it cannot. */
  static async start(options: ServedWorkerOptions): Promise<ServedWorker> {
    warnUnsupported(options.name, options.config, (line) => options.log('warn', line))
    const worker = new ServedWorker(options)
    try {
      await worker.deploy()
    } catch (error) {
      await worker.close()
      throw error
    }
    options.log('info', `Worker ${options.name} is ready for service bindings`, {
      event: 'worker_ready',
      worker: options.name,
      processes: options.settings.processes,
    })
    return worker
  }

  /**
   * Builds the code on disk again and deploys it (the new version serves before the old one
   * drains). The config is the one read at start: its bindings are wired into the host.
   */
  async deploy(): Promise<void> {
    const { name, config, log } = this.options
    const next = await buildWorker(config.build)
    for (const warning of next.warnings) log('warn', `build (${name}): ${warning}`)
    let drained: Promise<void>
    try {
      ;({ drained } = await this.pool.deploy(this.data(next)))
    } catch (error) {
      await next.dispose()
      throw error
    }
    const old = this.bundle
    this.bundle = next
    void drained.then(() => old?.dispose())
  }

  async close(): Promise<void> {
    await this.pool.close()
    await this.bundle?.dispose()
  }

  private data(bundle: Bundle): RuntimeData {
    const o = this.options
    return {
      ...serviceRuntimeData(
        o.name,
        o.config,
        bundle,
        {
          origin: o.origin,
          hostAddresses: o.hostAddresses,
          ...(o.env === undefined ? {} : { env: o.env }),
          allow: o.allow,
          deny: o.deny,
          members: o.members,
        },
        outboundOf(o.config, o.name) !== undefined
      ),
      // The pool fills in the limits per process; the format is the host's.
      serve: {
        cpuMs: 0,
        memoryMb: 0,
        startupMs: 0,
        subrequests: 0,
        logFormat: o.logFormat,
        tag: '',
      },
    }
  }
}
