/**
 * `wharf dev`: serves a Worker over HTTP like `wrangler dev`, with Workers' socket rules, and
 * reloads it (a fresh runtime process) when its files change.
 */
import net, { type AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { loadConfig, type WorkerConfig } from './config.js'
import { bundleFields, runtimeBindingFields } from './runtime-fields.js'
import { readDevSecrets } from './dotenv.js'
import { unsupportedWarning } from './unsupported-bindings.js'
import { startEchoService, type ExampleServer } from './example-service.js'
import { startHyperdrive, type StartedBinding } from './hyperdrive.js'
import { originRoutes, startTunnels, type StartedTunnels } from './tunnels.js'
import type { RuntimeData, ScopedException } from './protocol.js'
import { resolveIsolation, type Isolation, type IsolationMode } from './isolation.js'
import { WharfStartupError, configError, listenError } from './errors.js'
import type { Route } from './tunnels.js'
import { resolveSandbox, workerPaths, type Sandbox, type SandboxMode } from './sandbox.js'
import { logLine } from './logger.js'
import { WorkerProcess } from './supervisor.js'
import { WorkerBuilder, type WorkerBundle } from './bundle/index.js'
import { ReloadWatcher, type WatchTargets } from './reload-watcher.js'
import { runtimePhases, timer } from './timing.js'
import { dispatchRuntimeData, resolveDispatch, type NamespaceMembers } from './services/dispatch.js'
import { ServiceHub } from './services/hub.js'
import { startTcpListener, type TcpListener } from './services/tcp.js'
import {
  PRIMARY_FALLBACK_NAME,
  checkServiceNames,
  outboundConfig,
  outboundOf,
  outboundWorkerName,
  startServiceWorker,
  withParams,
  type RunningWorker,
} from './services/workers.js'

export interface DevOptions {
  readonly dir: string
  /** `wharf dev SCRIPT`: this file is main; the config is looked up from its directory upwards. */
  readonly script?: string
  readonly config?: string
  /** More Workers (`-c` after the first): reached through service bindings, not over HTTP. */
  readonly configs?: readonly string[]
  readonly port?: number
  readonly ip?: string
  readonly vars?: Readonly<Record<string, string>>
  /** `--env NAME`: the config's `[env.NAME]` section. */
  readonly env?: string
  readonly allow?: readonly string[]
  readonly deny?: readonly string[]
  readonly watch?: boolean
  /** Overrides `wharf.isolation`. */
  readonly isolation?: IsolationMode
  /** Overrides `wharf.sandbox`. */
  readonly sandbox?: SandboxMode
  readonly log?: (line: string) => void
  /** How long a runtime may take from receiving its Worker to ready (default 60 s). */
  readonly readyTimeoutMs?: number
}

export interface DevServer {
  readonly url: string
  readonly config: WorkerConfig
  /** `wharf.tcp` listeners, in config order (the primary's first). */
  readonly tcp: readonly { readonly address: string; readonly port: number }[]
  close(): Promise<void>
}

const DEFAULT_PORT = 8787
const RELOAD_DEBOUNCE_MS = 50
const DRAIN_MS = 30_000
/** From handing the runtime its Worker to `ready`: generous (a loaded machine, a large graph). */
const READY_TIMEOUT_MS = 60_000

/** The runtime's `ready`, or WharfStartupError after `ms`: a runtime that goes quiet never hangs the host. */
async function readyWithin(runtime: WorkerProcess, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new WharfStartupError(
            `the Worker process did not report ready within ${ms / 1000} s of loading the Worker (its module's top level may never finish)`
          )
        ),
      ms
    )
  })
  try {
    await Promise.race([runtime.ready, late])
  } finally {
    clearTimeout(timer)
  }
}

async function listen(server: net.Server, ip: string, port: number, probe: boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port + attempt, ip, () => {
          server.off('error', reject)
          resolve()
        })
      })
      return
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (!probe || code !== 'EADDRINUSE' || attempt >= 20)
        throw listenError('wharf dev', ip, port + attempt, error)
    }
  }
}

/** wrangler's start-up summary of bindings; `--var` and `.dev.vars` values show as "(hidden)". */
function bindingsTable(
  config: WorkerConfig,
  flagVars: Readonly<Record<string, string>>,
  devVars: Readonly<Record<string, string>>,
  exceptions: readonly ScopedException[]
): string[] {
  const rows: [string, string, string][] = []
  const names = new Set([
    ...Object.keys(config.vars),
    ...Object.keys(devVars),
    ...Object.keys(flagVars),
  ])
  for (const name of names) {
    const hidden = name in flagVars || name in devVars
    const value = hidden ? '"(hidden)"' : JSON.stringify(config.vars[name])
    rows.push([
      `env.${name} (${value.length > 40 ? value.slice(0, 37) + '...' : value})`,
      'Environment Variable',
      'local',
    ])
  }
  for (const h of config.hyperdrive) rows.push([`env.${h.binding}`, 'Hyperdrive Config', 'local'])
  for (const b of config.services.bindings) {
    const target = b.entrypoint === undefined ? b.service : `${b.service}#${b.entrypoint}`
    rows.push([`env.${b.binding} (${target})`, 'Worker', 'local'])
  }
  for (const d of config.services.dispatch) {
    rows.push([`env.${d.binding} (${d.namespace})`, 'Dispatch Namespace', 'local'])
  }
  if (config.assets?.binding !== undefined)
    rows.push([`env.${config.assets.binding}`, 'Assets', 'local'])
  for (const r of config.rateLimits)
    rows.push([`env.${r.binding} (${r.limit} per ${r.period} s)`, 'Rate Limit', 'local'])
  if (config.versionMetadata !== undefined)
    rows.push([`env.${config.versionMetadata}`, 'Worker Version Metadata', 'local'])
  for (const b of config.unsupported) rows.push([`env.${b.binding}`, b.kind, 'not supported'])
  for (const e of exceptions) {
    if (e.label.startsWith('example_service:')) {
      rows.push([
        `env.${e.label.slice(16)} ("${e.host}:${e.port}")`,
        'Example TCP service',
        'local',
      ])
    }
  }
  if (rows.length === 0) return []
  const width = Math.max(7, ...rows.map((r) => r[0].length))
  const kind = Math.max(8, ...rows.map((r) => r[1].length))
  return [
    'Your Worker has access to the following bindings:',
    `${'Binding'.padEnd(width)}  ${'Resource'.padEnd(kind)}  Mode`,
    ...rows.map(([a, b, c]) => `${a.padEnd(width)}  ${b.padEnd(kind)}  ${c}`),
  ]
}

/** `assets` as the runtime takes it (`wharf dev` and `wharf serve` alike). */
export function assetsData(config: WorkerConfig): Pick<RuntimeData, 'assets'> {
  if (config.assets === undefined) return {}
  return {
    assets: {
      ...config.assets,
      hasWorker: true,
      navigationPrefersAssets:
        (config.compatibilityDate ?? '') >= '2025-04-01' ||
        config.compatibilityFlags.includes('assets_navigation_prefers_asset_serving'),
    },
  }
}

/** What a reload is for: the bundle's inputs, the config files, secrets and the assets. */
export function reloadTargets(
  config: WorkerConfig,
  inputs: readonly string[],
  open: boolean
): WatchTargets {
  const root = dirname(config.file)
  const configFiles = [config.file]
  if (config.redirect !== undefined) {
    configFiles.push(config.redirect.deployConfig)
    if (config.redirect.userConfig !== undefined) configFiles.push(config.redirect.userConfig)
  }
  // esbuild reads the tsconfig for paths and JSX: a change to it changes the bundle.
  const tsconfig = join(root, config.build.tsconfig ?? 'tsconfig.json')
  return {
    files: [...inputs, ...configFiles, tsconfig],
    secretsDir: root,
    trees: config.assets === undefined ? [] : [config.assets.directory],
    open,
  }
}

/** The listening address, or every local address when listening on all of them (0.0.0.0, ::). */
export function selfAddresses(address: AddressInfo): { address: string; port: number }[] {
  if (address.address !== '0.0.0.0' && address.address !== '::') {
    return [{ address: address.address, port: address.port }]
  }
  const all = ['127.0.0.1', '::1', address.address]
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) all.push(info.address)
  }
  return all.map((a) => ({ address: a, port: address.port }))
}

export async function startDev(options: DevOptions): Promise<DevServer> {
  const log = options.log ?? logLine
  const mark = timer(log)
  mark('startDev')
  const config = loadConfig(options.dir, options.config, options.env, options.script)
  mark('config loaded')
  const secretsOf = (current: WorkerConfig): Record<string, string> =>
    readDevSecrets(dirname(current.file), options.env).values
  const services: ExampleServer[] = []
  let hyperdrive: StartedBinding[] = []
  let tunnels: StartedTunnels | undefined
  const hub = new ServiceHub()
  const others: RunningWorker[] = []
  const tcp: TcpListener[] = []
  // Connections are accepted paused and handed, unread, to the current runtime process.
  const server = net.createServer({ pauseOnConnect: true, noDelay: true })
  let runtime: WorkerProcess | undefined
  let watcher: ReloadWatcher | undefined
  let lastInputs: readonly string[] = []
  let watchTargets: (
    current: WorkerConfig | undefined,
    bundle: WorkerBundle | undefined,
    open: boolean
  ) => void = () => undefined
  let reloadTimer: NodeJS.Timeout | undefined
  let builder = new WorkerBuilder(config.build)
  // A booted runtime process waiting for its Worker version, for the next start or reload.
  let spare: { proc: WorkerProcess; root: string } | undefined
  const spawnSpare = (isolation: Isolation, sandbox: Sandbox): void => {
    const root = builder.root
    spare = {
      proc: new WorkerProcess(undefined, isolation, sandbox, undefined, {
        // Every version directory of this builder: the spare does not know which one it gets.
        workerPaths: workerPaths({
          main: join(root, 'version'),
          projectDir: dirname(config.file),
          ...(config.assets === undefined ? {} : { assets: config.assets }),
        }),
      }),
      root,
    }
  }
  /** The spare, if it is alive and may read `main`; otherwise none (and it is stopped). */
  const takeSpare = (main: string): WorkerProcess | undefined => {
    const taken = spare
    spare = undefined
    if (taken?.proc.alive === true && main.startsWith(taken.root + sep)) return taken.proc
    if (taken) void taken.proc.terminate()
    return undefined
  }
  const built = async (): Promise<WorkerBundle> => {
    const bundle = await builder.build()
    mark(`built (${bundle.ms} ms in esbuild)`)
    for (const warning of bundle.warnings) log(`[wharf:warn] build: ${warning}`)
    return bundle
  }
  const cleanup = async (): Promise<void> => {
    watcher?.close()
    clearTimeout(reloadTimer)
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
    })
    await spare?.proc.terminate()
    await Promise.all(tcp.map((l) => l.close()))
    await runtime?.terminate()
    await Promise.all(others.map((w) => w.close()))
    await builder.dispose()
    await Promise.all([...services.map((s) => s.close()), ...hyperdrive.map((h) => h.close())])
    await tunnels?.close()
  }
  try {
    if (config.redirect !== undefined) {
      // wrangler's wording, so a user who knows it recognises the build tool's output.
      const rel = (path: string): string => relative(process.cwd(), path) || '.'
      log('[wharf:info] Using redirected Wrangler configuration.')
      log(`  - Configuration being used: "${rel(config.redirect.file)}"`)
      if (config.redirect.userConfig !== undefined)
        log(`  - Original user's configuration: "${rel(config.redirect.userConfig)}"`)
      log(`  - Deploy configuration file: "${rel(config.redirect.deployConfig)}"`)
    }
    for (const field of config.ignored) {
      log(`[wharf:warn] config field "${field}" is read but has no effect in wharf dev: ignored`)
    }
    for (const b of config.unsupported) log(`[wharf:warn] ${unsupportedWarning(b)}`)
    const secrets = readDevSecrets(dirname(config.file), options.env)
    for (const file of secrets.files) log(`[wharf:info] Using secrets defined in ${file}`)
    // Decided once per host: a reload that changes it needs a restart (said in the docs).
    const isolation = resolveIsolation(options.isolation ?? config.isolation)
    const sandbox = resolveSandbox(options.sandbox ?? config.sandbox)
    mark('isolation and sandbox resolved')
    // A runtime process boots (Node, bubblewrap, the runtime's own modules) while the bindings
    // start and the Worker builds; it gets its Worker version when both are done.
    spawnSpare(isolation, sandbox)
    const building = built()
    // Values the host adds (example services' addresses); config vars and secrets are re-read.
    const vars: Record<string, unknown> = {}
    const exceptions: ScopedException[] = []
    const bindings = (async () => {
      for (const service of config.exampleServices) {
        const started = await startEchoService()
        services.push(started)
        vars[service.binding] = `${started.host}:${started.port}`
        exceptions.push({
          host: started.host,
          port: started.port,
          label: `example_service:${service.binding}`,
        })
      }
      // The edge stays up across reloads: connectors need not reconnect when the Worker changes.
      // It starts first: a hyperdrive binding's origin may be a VPC service behind it.
      tunnels = await startTunnels(config.vpc, log)
      hyperdrive = await startHyperdrive(config.hyperdrive, log, originRoutes(tunnels), {
        projectDir: dirname(config.file),
      })
      mark('hyperdrive bindings started')
      for (const h of hyperdrive) {
        if (h.info)
          exceptions.push({
            host: h.info.host,
            port: h.info.port,
            label: `hyperdrive:${h.binding}`,
          })
      }
    })()
    // Both settle before either error is thrown, so cleanup sees everything that started.
    const [boundOutcome, builtOutcome] = await Promise.allSettled([bindings, building])
    if (boundOutcome.status === 'rejected') throw boundOutcome.reason
    if (builtOutcome.status === 'rejected') throw builtOutcome.reason
    const firstBundle = builtOutcome.value

    const ip = options.ip ?? config.dev.ip ?? '127.0.0.1'
    const explicitPort = options.port ?? config.dev.port
    await listen(server, ip, explicitPort ?? DEFAULT_PORT, explicitPort === undefined)
    const address = server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    const origin = `http://${host}:${address.port}`

    // Each dispatch namespace's user Workers, found once the other Workers are read (below).
    let members: NamespaceMembers = new Map()
    const buildData = (current: WorkerConfig, bundle: WorkerBundle): RuntimeData => ({
      ...bundleFields(bundle),
      source: current.main,
      projectDir: dirname(current.file),
      ...(current.compatibilityDate === undefined
        ? {}
        : { compatibilityDate: current.compatibilityDate }),
      compatibilityFlags: current.compatibilityFlags,
      origin,
      vars: { ...vars, ...current.vars, ...secretsOf(current), ...options.vars },
      secrets: Object.keys({ ...secretsOf(current), ...options.vars }),
      ...assetsData(current),
      limits: current.limits,
      ...(current.subrequests === undefined ? {} : { subrequests: current.subrequests }),
      ...runtimeBindingFields(current),
      egress: {
        ...current.egress,
        allow: [...current.egress.allow, ...(options.allow ?? [])],
        deny: [...current.egress.deny, ...(options.deny ?? [])],
      },
      exceptions,
      hostAddresses: selfAddresses(address),
      hyperdrive: hyperdrive.map((h) => ({
        binding: h.binding,
        ...(h.info ? { info: h.info } : {}),
        ...(h.error === undefined ? {} : { error: h.error }),
      })),
      ...(tunnels === undefined ? {} : { vpc: tunnels.bindings }),
      services: current.services.bindings.map((b) => b.binding),
      ...dispatchRuntimeData(current, members),
      ...(current.services.outbound === undefined ? {} : { outbound: true }),
    })
    let data = buildData(config, firstBundle)

    // The other Workers (-c), the Outbound Worker of a `wharf.outbound.main`, and the routes
    // the primary's service bindings use (services/).
    const primaryName = config.name ?? PRIMARY_FALLBACK_NAME
    const workers = [
      { name: primaryName, config },
      ...(options.configs ?? []).map((file) => {
        const other = loadConfig(dirname(file), file, options.env)
        if (other.name === undefined) {
          throw configError(other.file, 'a Worker passed with another -c needs a "name"')
        }
        return { name: other.name, config: other }
      }),
    ]
    members = resolveDispatch(workers)
    for (const w of [...workers]) {
      const outbound = w.config.services.outbound
      if (outbound?.main !== undefined) {
        workers.push({
          name: outboundWorkerName(w.name),
          config: outboundConfig(w.config, outbound.main),
        })
      }
      const target = workers.find((other) => other.name === outbound?.service)
      if (outbound !== undefined && target !== undefined) {
        target.config = withParams(target.config, outbound.params)
      }
    }
    checkServiceNames(workers)
    data = buildData(config, firstBundle)
    const routesOf = (current: WorkerConfig, name: string): Map<string, Route> =>
      new Map([
        ...(tunnels?.routes ?? new Map<string, Route>()),
        ...hub.routesFor(current.services, outboundOf(current, name), members),
      ])
    const serviceContext = {
      hub,
      isolation,
      sandbox,
      origin,
      hostAddresses: selfAddresses(address),
      ...(options.env === undefined ? {} : { env: options.env }),
      allow: options.allow ?? [],
      deny: options.deny ?? [],
      log,
      watch: options.watch !== false,
      members,
    }
    for (const w of workers.slice(1)) {
      const started = await startServiceWorker(
        w.name,
        w.config,
        routesOf(w.config, w.name),
        serviceContext
      )
      others.push(started)
      hub.register(w.name, started.current)
    }
    hub.register(primaryName, () => runtime)
    let primaryRoutes = routesOf(config, primaryName)

    const startRuntime = async (): Promise<WorkerProcess> => {
      const adopted = takeSpare(data.main)
      const next = adopted ?? new WorkerProcess(data, isolation, sandbox, primaryRoutes)
      if (adopted) adopted.init(data, primaryRoutes)
      try {
        await readyWithin(next, options.readyTimeoutMs ?? READY_TIMEOUT_MS)
      } catch (error) {
        await next.terminate()
        throw error
      }
      // The next reload's runtime boots now, while nothing else is happening.
      if (options.watch !== false) spawnSpare(isolation, sandbox)
      next.onExit = (code) => {
        if (runtime !== next) return
        log(`[wharf:error] the Worker process exited (code ${code}); restarting it`)
        void startRuntime().then(
          (fresh) => {
            runtime = fresh
          },
          (error: unknown) => log(`[wharf:error] ${(error as Error).message}`)
        )
      }
      return next
    }
    runtime = await startRuntime()
    runtimePhases(mark, runtime)

    server.on('connection', (socket: net.Socket) => {
      if (runtime) runtime.handOff(socket)
      else socket.destroy()
    })

    if (options.watch !== false) {
      let lastBuild = config.build
      let reloading = Promise.resolve()
      const reload = async (): Promise<void> => {
        mark('reload: change seen')
        log('⎔ Reloading local server...')
        let fresh: WorkerProcess
        try {
          // The config is read again (vars, limits, egress, main); services and bindings stay.
          const current = loadConfig(dirname(config.file), config.file, options.env, options.script)
          if (JSON.stringify(current.build) !== JSON.stringify(lastBuild)) {
            // New build settings need a new esbuild context; otherwise rebuild incrementally.
            await builder.dispose()
            builder = new WorkerBuilder(current.build)
            lastBuild = current.build
          }
          const bundle = await built()
          // The new graph is watched from now on, even if this version fails to load.
          watchTargets(current, bundle, false)
          data = buildData(current, bundle)
          primaryRoutes = routesOf(current, primaryName)
          fresh = await startRuntime()
        } catch (error) {
          // The fix may be a file nothing imports yet (the module a broken import names).
          watchTargets(undefined, undefined, true)
          log(
            `[wharf:error] reload failed, still serving the previous version:\n${(error as Error).message}`
          )
          return
        }
        runtimePhases(mark, fresh)
        const old = runtime
        runtime = fresh
        log('⎔ Local server updated and ready')
        if (old) void old.drain(DRAIN_MS)
      }
      const reloadWatcher = new ReloadWatcher(() => {
        clearTimeout(reloadTimer)
        reloadTimer = setTimeout(() => {
          reloading = reloading.then(reload)
        }, RELOAD_DEBOUNCE_MS)
      }, log)
      watcher = reloadWatcher
      let lastConfig = config
      watchTargets = (current, bundle, open) => {
        const inForce = current ?? lastConfig
        reloadWatcher.update(reloadTargets(inForce, bundle?.inputs ?? lastInputs, open))
        lastConfig = inForce
        if (bundle !== undefined) lastInputs = bundle.inputs
      }
      watchTargets(config, firstBundle, false)
    }

    for (const w of workers) {
      for (const listener of w.config.services.tcp) {
        tcp.push(
          await startTcpListener(w.name, listener, ip, w.config.limits, hub, (line) =>
            log(`[wharf:info] ${line}`)
          )
        )
      }
    }

    for (const line of bindingsTable(config, options.vars ?? {}, secrets.values, exceptions)) {
      log(line)
    }
    log(`[wharf:info] Worker isolation: ${isolation.description}`)
    log(`[wharf:info] Worker sandbox: ${sandbox.description}`)
    log(`[wharf:info] Ready on ${origin}`)
    return { url: origin, config, tcp, close: cleanup }
  } catch (error) {
    await cleanup().catch(() => undefined)
    throw error
  }
}
