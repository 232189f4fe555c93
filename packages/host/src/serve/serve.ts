/**
 * `wharf serve`: the production runtime. The same config, socket rules, egress policy,
 * isolation and bindings as `wharf dev`, without watching files or the dev banner, on N runtime
 * processes with Workers' limits, zero-downtime deploys (SIGHUP) and an admin listener. Several
 * Workers (`-c` more than once) each get their own runtime pool, joined by service bindings.
 */
import { dirname } from 'node:path'
import net, { type AddressInfo } from 'node:net'
import type http from 'node:http'
import type { WorkerConfig } from '../config.js'
import { bundleFields, runtimeBindingFields } from '../runtime-fields.js'
import { readDevSecrets } from '../dotenv.js'
import { unsupportedWarning } from '../unsupported-bindings.js'
import { resolveSandbox, type SandboxMode } from '../sandbox.js'
import { assetsData, selfAddresses } from '../dev.js'
import { listenError } from '../errors.js'
import { startEchoService, type ExampleServer } from '../example-service.js'
import { startHyperdrive, type StartedBinding } from '../hyperdrive.js'
import { originRoutes, printable, startTunnels, type StartedTunnels } from '../tunnels.js'
import { resolveIsolation, type IsolationMode } from '../isolation.js'
import type { RuntimeData, ScopedException } from '../protocol.js'
import { buildWorker } from '../bundle/index.js'
import { createAdminServer } from './admin.js'
import { HostSockets } from './host-sockets.js'
import { sharedSocketsFor } from './shared-sockets.js'
import { serveLogger, type LogFormat, type ServeLog } from './log.js'
import { ServeMetrics } from './metrics.js'
import { ProcessMetrics } from './process-metrics.js'
import { RuntimePool } from './runtime-pool.js'
import { loadServeConfig, type ServeSettings } from './settings.js'
import { ServedWorker } from './workers.js'
import { configError } from '../errors.js'
import {
  dispatchRuntimeData,
  resolveDispatch,
  type NamespaceMembers,
} from '../services/dispatch.js'
import { ServiceHub } from '../services/hub.js'
import { startTcpListener, type TcpListener } from '../services/tcp.js'
import {
  PRIMARY_FALLBACK_NAME,
  checkServiceNames,
  outboundConfig,
  outboundOf,
  outboundWorkerName,
  withParams,
} from '../services/workers.js'

export interface ServeOptions {
  readonly dir: string
  readonly config?: string
  /** More Workers (`-c` after the first), reached through service bindings and `wharf.tcp`. */
  readonly configs?: readonly string[]
  readonly env?: string
  readonly port?: number
  readonly ip?: string
  /** Overrides `wharf.serve.processes`. */
  readonly processes?: number
  readonly vars?: Readonly<Record<string, string>>
  readonly allow?: readonly string[]
  readonly deny?: readonly string[]
  readonly isolation?: IsolationMode
  /** Overrides `wharf.sandbox` (auto, strict or off, as for `wharf dev`). */
  readonly sandbox?: SandboxMode
  readonly logFormat?: LogFormat
  /** The admin listener (health, readiness, metrics, operator page); none when undefined. */
  readonly adminPort?: number
  readonly adminIp?: string
  readonly log?: (line: string) => void
}

export interface ServeHandle {
  readonly url: string
  readonly adminUrl: string | undefined
  readonly config: WorkerConfig
  /** Deploys the config and bundle on disk now; rejects (old version still serving) if bad. */
  reload(): Promise<void>
  /** Stops accepting, drains every runtime (bounded), closes everything. */
  close(): Promise<void>
}

const MAX_QUEUED_HOST_SOCKETS = 10_000

type Bundle = Awaited<ReturnType<typeof buildWorker>>

/** Listens or fails at once with the address named (never a hang, never a retry). */
async function listen(
  server: net.Server | http.Server,
  ip: string,
  port: number,
  what: string
): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void =>
      reject(listenError(what, ip, port, error))
    server.once('error', onError)
    server.listen(port, ip, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${host}:${address.port}`
}

function closeServer(server: net.Server | http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) resolve()
    else server.close(() => resolve())
  })
}

export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const log: ServeLog = serveLogger(options.logFormat ?? 'text', options.log)
  const dir = options.dir
  const load = (): { config: WorkerConfig; settings: ServeSettings } => {
    const loaded = loadServeConfig(dir, options.config, options.env)
    return {
      config: loaded.config,
      settings: {
        ...loaded.settings,
        ...(options.processes === undefined ? {} : { processes: options.processes }),
      },
    }
  }
  const { config, settings } = load()
  const primaryName = config.name ?? PRIMARY_FALLBACK_NAME
  const isolation = resolveIsolation(options.isolation ?? config.isolation)
  const services: ExampleServer[] = []
  let hyperdrive: StartedBinding[] = []
  let tunnels: StartedTunnels | undefined
  const server = net.createServer({ pauseOnConnect: true, noDelay: true })
  const metrics = new ServeMetrics(config.name ?? 'worker')
  const hostSockets = new HostSockets({
    maxOpenSockets: config.limits.maxOpenSockets,
    queueTimeoutMs: config.limits.queueTimeoutMs,
    maxQueued: MAX_QUEUED_HOST_SOCKETS,
  })
  // Strict with no sandbox throws here: nothing has started yet.
  const sandbox = resolveSandbox(options.sandbox ?? config.sandbox)
  const sharedSockets = sharedSocketsFor(
    primaryName,
    settings.sharedSockets,
    config.limits.queueTimeoutMs,
    log
  )
  const pool = new RuntimePool({
    isolation,
    sandbox,
    settings,
    metrics,
    hostSockets,
    log,
    ...(sharedSockets === undefined ? {} : { sharedSockets }),
  })
  let admin: http.Server | undefined
  let closeProcessMetrics = (): void => undefined
  let bundle: Bundle | undefined
  const hub = new ServiceHub()
  const others: ServedWorker[] = []
  const tcp: TcpListener[] = []
  const cleanup = async (): Promise<void> => {
    await Promise.all([closeServer(server), admin ? closeServer(admin) : undefined])
    closeProcessMetrics()
    await Promise.all(tcp.map((l) => l.close()))
    await Promise.all([pool.close(), ...others.map((w) => w.close())])
    await bundle?.dispose()
    await Promise.all([...services.map((s) => s.close()), ...hyperdrive.map((h) => h.close())])
    await tunnels?.close()
  }
  try {
    // The same lines as `wharf dev`: a field without effect, or a binding nothing provides,
    // is said once at start, never silently dropped.
    for (const field of config.ignored) {
      log('warn', `config field "${field}" is read but has no effect in wharf serve: ignored`, {
        event: 'config_ignored',
        field,
      })
    }
    for (const b of config.unsupported) {
      log('warn', unsupportedWarning(b), { event: 'binding_unsupported', binding: b.binding })
    }
    const exceptions: ScopedException[] = []
    const serviceVars: Record<string, string> = {}
    for (const service of config.exampleServices) {
      const started = await startEchoService()
      services.push(started)
      serviceVars[service.binding] = `${started.host}:${started.port}`
      exceptions.push({
        host: started.host,
        port: started.port,
        label: `example_service:${service.binding}`,
      })
    }
    tunnels = await startTunnels(
      config.vpc,
      (line) => log('info', line),
      (flow) => {
        metrics.tunnelFlow(flow.tunnel, flow.outcome)
        if (flow.outcome === 'opened') return
        // A refusal by the connector's ingress rules is an egress denial, named by its tunnel.
        if (flow.outcome === 'denied') metrics.denied(`tunnel:${flow.tunnel}`, flow.host, flow.port)
        log(
          'warn',
          `tunnel ${flow.tunnel}: flow of ${flow.binding} to ${printable(flow.host)}:${flow.port} ${flow.outcome}: ${printable(flow.reason ?? '')}`,
          { event: `tunnel_flow_${flow.outcome}`, tunnel: flow.tunnel, binding: flow.binding }
        )
      }
    )
    pool.tunnelRoutes = tunnels?.routes
    hyperdrive = await startHyperdrive(config.hyperdrive, undefined, originRoutes(tunnels))
    for (const h of hyperdrive) {
      if (h.info)
        exceptions.push({ host: h.info.host, port: h.info.port, label: `hyperdrive:${h.binding}` })
    }
    const ip = options.ip ?? config.dev.ip ?? '127.0.0.1'
    const url = await listen(server, ip, options.port ?? config.dev.port ?? 8787, 'wharf serve')
    let adminUrl: string | undefined
    if (options.adminPort !== undefined) {
      const ready = (): boolean => pool.ready() && others.every((w) => w.pool.ready())
      const own = new ProcessMetrics()
      closeProcessMetrics = () => own.close()
      admin = createAdminServer({
        ready,
        metrics: () =>
          own.prometheus() +
          metrics.prometheus(
            pool.live(),
            hyperdrive.flatMap((h) => {
              const figures = h.metrics?.()
              return figures === undefined ? [] : [{ binding: h.binding, metrics: figures }]
            }),
            others.map((w) => ({ name: w.name, metrics: w.metrics, live: w.pool.live() }))
          ),
        status: () => ({
          worker: config.name ?? 'worker',
          ready: ready(),
          ...metrics.snapshot(pool.live()),
          ...(others.length === 0
            ? {}
            : {
                workers: Object.fromEntries(
                  others.map((w) => [w.name, w.metrics.snapshot(w.pool.live())])
                ),
              }),
        }),
      })
      adminUrl = await listen(
        admin,
        options.adminIp ?? '127.0.0.1',
        options.adminPort,
        'the admin listener'
      )
    }
    const address = server.address() as AddressInfo
    const hostAddresses = [
      ...selfAddresses(address),
      ...(admin ? selfAddresses(admin.address() as AddressInfo) : []),
    ]
    // Each dispatch namespace's user Workers, found once the other Workers are read (below).
    let members: NamespaceMembers = new Map()
    // What the runtime needs of the config is what `wharf dev` gives it (dev.ts `buildData`):
    // the project directory (a no_bundle Worker's packages), the compatibility date and flags
    // (process.env, node:fs), the secrets' names and the static assets.
    const buildData = (current: WorkerConfig, built: Bundle): RuntimeData => {
      const secrets = {
        ...readDevSecrets(dirname(current.file), options.env).values,
        ...options.vars,
      }
      return {
        ...bundleFields(built),
        source: current.main,
        projectDir: dirname(current.file),
        ...(current.compatibilityDate === undefined
          ? {}
          : { compatibilityDate: current.compatibilityDate }),
        compatibilityFlags: current.compatibilityFlags,
        origin: url,
        vars: { ...serviceVars, ...current.vars, ...secrets },
        secrets: Object.keys(secrets),
        ...assetsData(current),
        limits: current.limits,
        ...runtimeBindingFields(current),
        egress: {
          ...current.egress,
          allow: [...current.egress.allow, ...(options.allow ?? [])],
          deny: [...current.egress.deny, ...(options.deny ?? [])],
        },
        exceptions,
        hostAddresses,
        hyperdrive: hyperdrive.map((h) => ({
          binding: h.binding,
          ...(h.info ? { info: h.info } : {}),
          ...(h.error === undefined ? {} : { error: h.error }),
        })),
        ...(tunnels === undefined ? {} : { vpc: tunnels.bindings }),
        // The bindings wired at start (a deploy keeps them: the routes are the host's).
        services: config.services.bindings.map((b) => b.binding),
        ...dispatchRuntimeData(config, members),
        ...(config.services.outbound === undefined ? {} : { outbound: true }),
        // The pool fills in the limits per process; the format is the host's.
        serve: {
          cpuMs: 0,
          memoryMb: 0,
          startupMs: 0,
          subrequests: 0,
          logFormat: options.logFormat ?? 'text',
          tag: '',
        },
      }
    }
    // The other Workers (-c), an Outbound Worker's `main`, and the routes between them.
    const workers: { name: string; config: WorkerConfig; settings: ServeSettings }[] = [
      { name: primaryName, config, settings },
      ...(options.configs ?? []).map((file) => {
        const other = loadServeConfig(dirname(file), file, options.env)
        if (other.config.name === undefined) {
          throw configError(other.config.file, 'a Worker passed with another -c needs a "name"')
        }
        return {
          name: other.config.name,
          config: other.config,
          settings: {
            ...other.settings,
            ...(options.processes === undefined ? {} : { processes: options.processes }),
          },
        }
      }),
    ]
    members = resolveDispatch(workers)
    for (const w of [...workers]) {
      const outbound = w.config.services.outbound
      if (outbound?.main !== undefined) {
        workers.push({
          name: outboundWorkerName(w.name),
          config: outboundConfig(w.config, outbound.main),
          settings: w.settings,
        })
      }
      const target = workers.find((other) => other.name === outbound?.service)
      if (outbound !== undefined && target !== undefined) {
        target.config = withParams(target.config, outbound.params)
      }
    }
    checkServiceNames(workers)
    pool.serviceRoutes = hub.routesFor(config.services, outboundOf(config, primaryName), members)
    hub.register(primaryName, () => pool)
    for (const w of workers.slice(1)) {
      const started = await ServedWorker.start({
        name: w.name,
        config: w.config,
        settings: w.settings,
        isolation,
        sandbox,
        hostSockets,
        log,
        logFormat: options.logFormat ?? 'text',
        routes: hub.routesFor(w.config.services, outboundOf(w.config, w.name), members),
        origin: url,
        hostAddresses,
        ...(options.env === undefined ? {} : { env: options.env }),
        allow: options.allow ?? [],
        deny: options.deny ?? [],
        members,
      })
      others.push(started)
      hub.register(w.name, () => started.pool)
    }
    bundle = await buildWorker(config.build)
    for (const warning of bundle.warnings) log('warn', `build: ${warning}`)
    await pool.deploy(buildData(config, bundle))
    for (const w of workers) {
      for (const listener of w.config.services.tcp) {
        tcp.push(
          await startTcpListener(w.name, listener, ip, w.config.limits, hub, (line) =>
            log('info', line, { event: 'tcp_listening', worker: w.name })
          )
        )
      }
    }
    server.on('connection', (socket: net.Socket) => pool.handOff(socket))
    let deploying = Promise.resolve()
    const reload = (): Promise<void> => {
      const next = deploying.then(async () => {
        let fresh: WorkerConfig
        try {
          fresh = load().config
        } catch (error) {
          metrics.reloadsRefused++
          throw error
        }
        let next: Bundle
        try {
          // Each version is its own build: a draining version keeps the files it started with.
          next = await buildWorker(fresh.build)
          for (const warning of next.warnings) log('warn', `build: ${warning}`)
        } catch (error) {
          metrics.reloadsRefused++
          throw error
        }
        let drained: Promise<void>
        try {
          ;({ drained } = await pool.deploy(buildData(fresh, next)))
        } catch (error) {
          metrics.reloadsRefused++
          await next.dispose()
          throw error
        }
        metrics.reloads++
        // Once the old version has drained, its files can go.
        const old = bundle
        bundle = next
        void drained.then(() => old?.dispose())
        // The other Workers' code is built and deployed again too (their configs are as at start).
        for (const w of others) {
          try {
            await w.deploy()
            w.metrics.reloads++
          } catch (error) {
            w.metrics.reloadsRefused++
            throw error
          }
        }
      })
      deploying = next.catch(() => undefined)
      return next
    }
    log('info', `Worker isolation: ${isolation.description}`)
    log('info', `Worker sandbox: ${sandbox.description}`)
    log(
      'info',
      `serving ${config.name ?? config.main} on ${url} with ${settings.processes} runtime process${settings.processes === 1 ? '' : 'es'}`,
      {
        event: 'ready',
        url,
        processes: settings.processes,
        ...(adminUrl === undefined ? {} : { admin: adminUrl }),
      }
    )
    if (adminUrl !== undefined) log('info', `admin listener on ${adminUrl}`)
    return { url, adminUrl, config, reload, close: cleanup }
  } catch (error) {
    await cleanup().catch(() => undefined)
    throw error
  }
}
