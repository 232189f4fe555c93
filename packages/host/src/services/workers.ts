/**
 * The other Workers of a `wharf dev` host (`-c a/wrangler.toml -c b/wrangler.toml`: the first is
 * the primary, served over HTTP; the rest are reached only through service bindings, an Outbound
 * Worker or inbound TCP), each in a runtime process of its own, as wrangler's multi-config runs
 * each Worker in its own workerd. Also the checks that tie the configs together.
 */
import { watch, type FSWatcher } from 'node:fs'
import { bundleFields, runtimeBindingFields } from '../runtime-fields.js'
import { dirname, join } from 'node:path'
import type { WorkerConfig } from '../config.js'
import { readDevSecrets } from '../dotenv.js'
import { configError } from '../errors.js'
import type { Isolation } from '../isolation.js'
import type { RuntimeData } from '../protocol.js'
import type { Sandbox } from '../sandbox.js'
import { WorkerProcess } from '../supervisor.js'
import { WorkerBuilder, type WorkerBundle } from '../bundle/index.js'
import type { ServiceHub } from './hub.js'
import { dispatchRuntimeData, type NamespaceMembers } from './dispatch.js'
import type { Route } from '../tunnels.js'

/** The name the primary Worker is reachable by when its config has none. */
export const PRIMARY_FALLBACK_NAME = 'worker'

/** The name of the Worker a `wharf.outbound.main` module runs as. */
export const outboundWorkerName = (owner: string): string => `${owner}:outbound`

/** The Worker `config`'s Outbound Worker goes to, if any. */
export function outboundOf(config: WorkerConfig, name: string): string | undefined {
  const outbound = config.services.outbound
  if (outbound === undefined) return undefined
  return outbound.service ?? outboundWorkerName(name)
}

/** A Worker config made from `wharf.outbound.main`: the owner's settings, its params as vars. */
export function outboundConfig(owner: WorkerConfig, main: string): WorkerConfig {
  return {
    ...owner,
    main,
    vars: owner.services.outbound?.params ?? {},
    hyperdrive: [],
    exampleServices: [],
    services: { bindings: [], dispatch: [], tcp: [] },
    vpc: { networks: [], services: [] },
    ignored: [],
    build: { ...owner.build, main },
    assets: undefined,
    unsupported: [],
    rateLimits: [],
  }
}

/** Workers for Platforms' outbound parameters: the Outbound Worker sees them in its `env`. */
export function withParams(
  config: WorkerConfig,
  params: Readonly<Record<string, unknown>>
): WorkerConfig {
  return { ...config, vars: { ...config.vars, ...params } }
}

/** Every `services` binding and Outbound Worker must name a Worker of this host, once each. */
export function checkServiceNames(
  configs: readonly { name: string; config: WorkerConfig }[]
): void {
  const names = new Set<string>()
  for (const { name, config } of configs) {
    if (names.has(name)) {
      throw configError(
        config.file,
        `two Workers of this host are named "${name}" (give each a distinct "name")`
      )
    }
    names.add(name)
  }
  for (const { config } of configs) {
    for (const b of config.services.bindings) {
      if (!names.has(b.service)) {
        throw configError(
          config.file,
          `field "services" binds ${b.binding} to "${b.service}", which is not a Worker of this host (pass its config with another -c; Workers: ${[...names].join(', ')})`
        )
      }
    }
    for (const d of config.services.dispatch) {
      if (d.outbound !== undefined && !names.has(d.outbound.service)) {
        throw configError(
          config.file,
          `field "dispatch_namespaces" gives ${d.binding} the outbound Worker "${d.outbound.service}", which is not a Worker of this host (pass its config with another -c)`
        )
      }
    }
    const service = config.services.outbound?.service
    if (service !== undefined && !names.has(service)) {
      throw configError(
        config.file,
        `field "wharf.outbound.service" names "${service}", which is not a Worker of this host (pass its config with another -c)`
      )
    }
  }
}

export interface ServiceWorkerContext {
  readonly hub: ServiceHub
  readonly isolation: Isolation
  readonly sandbox: Sandbox
  readonly origin: string
  readonly hostAddresses: RuntimeData['hostAddresses']
  readonly env?: string
  readonly allow: readonly string[]
  readonly deny: readonly string[]
  readonly log: (line: string) => void
  /** Rebuild and restart the Worker when a file under its config's directory changes. */
  readonly watch?: boolean
  /** Each dispatch namespace's user Workers (services/dispatch.ts). */
  readonly members?: NamespaceMembers
}

const RELOAD_DEBOUNCE_MS = 50
const DRAIN_MS = 30_000

export interface RunningWorker {
  readonly name: string
  readonly current: () => WorkerProcess | undefined
  close(): Promise<void>
}

/** What the runtime of a non-primary Worker gets (no HTTP listener of its own). */
export function serviceRuntimeData(
  name: string,
  config: WorkerConfig,
  bundle: Pick<WorkerBundle, 'entry' | 'unbundled' | 'moduleFormats' | 'serviceWorker'>,
  ctx: Pick<
    ServiceWorkerContext,
    'origin' | 'hostAddresses' | 'env' | 'allow' | 'deny' | 'members'
  >,
  outbound: boolean
): RuntimeData {
  const secrets = readDevSecrets(dirname(config.file), ctx.env).values
  return {
    ...bundleFields(bundle),
    name,
    source: config.main,
    projectDir: dirname(config.file),
    ...(config.compatibilityDate === undefined
      ? {}
      : { compatibilityDate: config.compatibilityDate }),
    compatibilityFlags: config.compatibilityFlags,
    origin: ctx.origin,
    vars: { ...config.vars, ...secrets },
    secrets: Object.keys(secrets),
    ...runtimeBindingFields(config),
    limits: config.limits,
    ...(config.subrequests === undefined ? {} : { subrequests: config.subrequests }),
    egress: {
      ...config.egress,
      allow: [...config.egress.allow, ...ctx.allow],
      deny: [...config.egress.deny, ...ctx.deny],
    },
    exceptions: [],
    hostAddresses: ctx.hostAddresses,
    hyperdrive: [],
    services: config.services.bindings.map((b) => b.binding),
    ...dispatchRuntimeData(config, ctx.members ?? new Map()),
    ...(outbound ? { outbound: true } : {}),
  }
}

/** One warning line per config field a non-primary Worker does not get (`line` without level). */
export function warnUnsupported(
  name: string,
  config: WorkerConfig,
  warn: (line: string) => void
): void {
  for (const [field, used] of [
    ['hyperdrive', config.hyperdrive.length > 0],
    ['wharf.example_services', config.exampleServices.length > 0],
    ['assets', config.assets !== undefined],
    ['vpc_networks/vpc_services', config.vpc.networks.length + config.vpc.services.length > 0],
  ] as const) {
    if (used) {
      warn(
        `${name}: config field "${field}" is not supported on a Worker other than the first (-c): ignored`
      )
    }
  }
}

/** Builds and starts one non-primary Worker; restarts its runtime if it dies. */
export async function startServiceWorker(
  name: string,
  config: WorkerConfig,
  routes: ReadonlyMap<string, Route>,
  ctx: ServiceWorkerContext
): Promise<RunningWorker> {
  warnUnsupported(name, config, (line) => ctx.log(`[wharf:warn] ${line}`))
  const builder = new WorkerBuilder(config.build)
  let current: WorkerProcess | undefined
  let closed = false
  let data: RuntimeData
  const build = async (): Promise<RuntimeData> => {
    const bundle = await builder.build()
    for (const warning of bundle.warnings) ctx.log(`[wharf:warn] build (${name}): ${warning}`)
    return serviceRuntimeData(name, config, bundle, ctx, outboundOf(config, name) !== undefined)
  }
  const start = async (): Promise<WorkerProcess> => {
    const next = new WorkerProcess(data, ctx.isolation, ctx.sandbox, routes)
    try {
      await next.ready
    } catch (error) {
      await next.terminate()
      throw error
    }
    next.onExit = (code) => {
      if (closed || current !== next) return
      ctx.log(`[wharf:error] the Worker ${name} exited (code ${code}); restarting it`)
      void start().then(
        (fresh) => {
          current = fresh
        },
        (error: unknown) => ctx.log(`[wharf:error] ${name}: ${(error as Error).message}`)
      )
    }
    return next
  }
  try {
    data = await build()
    current = await start()
  } catch (error) {
    await builder.dispose()
    throw error
  }
  // A change rebuilds the code (the config is read at start only) and swaps runtimes, as the
  // primary's reload does: the new one takes new connections, the old one drains.
  let watcher: FSWatcher | undefined
  let timer: NodeJS.Timeout | undefined
  let reloading = Promise.resolve()
  const reload = async (): Promise<void> => {
    if (closed) return
    try {
      data = await build()
      const fresh = await start()
      if (closed) {
        await fresh.terminate()
        return
      }
      const old = current
      current = fresh
      ctx.log(`⎔ ${name} updated and ready`)
      if (old) void old.drain(DRAIN_MS)
    } catch (error) {
      ctx.log(
        `[wharf:error] ${name}: reload failed, still serving the previous version:\n${(error as Error).message}`
      )
    }
  }
  if (ctx.watch === true) {
    watcher = watch(dirname(config.file), { recursive: true }, (_event, file) => {
      if (/(^|[\\/])(node_modules|\.git|\.wrangler)([\\/]|$)/.test(String(file ?? ''))) return
      clearTimeout(timer)
      timer = setTimeout(() => {
        reloading = reloading.then(reload)
      }, RELOAD_DEBOUNCE_MS)
    })
  }
  ctx.log(
    `[wharf:info] Worker ${name} (${join(dirname(config.file))}) is ready for service bindings`
  )
  return {
    name,
    current: () => current,
    close: async () => {
      closed = true
      watcher?.close()
      clearTimeout(timer)
      await reloading
      await current?.terminate()
      await builder.dispose()
    },
  }
}
