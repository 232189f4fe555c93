/**
 * Loading a Worker in its runtime process: the bundle built by src/bundle/ (its `cloudflare:*`
 * and Node built-in imports already point at the host's modules), and the handler found in the
 * module's default export. A `no_bundle` Worker keeps its imports as written, so for it
 * `cloudflare:workers` and the `workerd`/`worker` conditions are resolved at run time.
 */
import Module from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { connect } from '@wharf/sockets'
import { env as workerEnv, type ExecutionContext } from './cloudflare-workers.js'
import type { HyperdriveInfo } from '../protocol.js'
import {
  loadWith,
  replacedBuiltin,
  resolveWith,
  type Builtins,
  type LoadContext,
  type LoadResult,
  type ModuleFormats,
  type ResolveContext,
  type ResolveResult,
} from './loader-hooks.js'
import type { Compat } from './node/compat.js'
import { dispatchFetch, hasFetchListeners } from './service-worker.js'

/** The host's own code (its dist, @wharf/sockets, undici): it always gets the real built-ins. */
function hostPrefixes(): string[] {
  const prefixes = [new URL('../', import.meta.url).href]
  for (const name of ['@wharf/sockets', 'undici']) {
    try {
      prefixes.push(new URL('./', import.meta.resolve(name)).href.replace(/\/(dist|lib)\/.*$/, '/'))
    } catch {
      // not installed beside the host: nothing of it to exempt
    }
  }
  return prefixes
}

/** workerd's stand-ins for the built-ins it stubs, when the Worker runs under nodejs_compat. */
export function builtinsFor(compat: Compat): Builtins {
  const replaced: Record<string, string> = {}
  if (compat.nodejsCompat) {
    for (const [name, exists] of Object.entries(compat.modules)) {
      replaced[name] = exists
        ? new URL(`./node/${name}.js`, import.meta.url).href
        : new URL(`./node/missing.js?name=${name}`, import.meta.url).href
    }
    // The virtual file system: workerd has node:fs/promises under nodejs_compat at every date
    // and flag tried (2024-09-23 on, and with disable_nodejs_fs_module); node:fs by `compat.fs`.
    replaced['fs/promises'] = new URL('./node/fs/promises.js', import.meta.url).href
    // workerd's node:module (builtinModules, isBuiltin, a createRequire for built-ins).
    replaced.module = new URL('./node/module.js', import.meta.url).href
    replaced.test = new URL('./node/test.js', import.meta.url).href
    // Servers listen on Worker-local ports (cloudflare:node), never on the host's; clients
    // connect through the broker, as fetch() does.
    replaced.http = new URL('./node/http.js', import.meta.url).href
    replaced.https = new URL('./node/https.js', import.meta.url).href
    replaced.fs = compat.fs
      ? new URL('./node/fs.js', import.meta.url).href
      : // wrangler bundles unenv's stand-in where workerd has no node:fs: the import works.
        new URL('./node/fs-unenv.js', import.meta.url).href
  }
  return { replaced, hostPrefixes: hostPrefixes() }
}

export function registerResolution(
  builtins: Builtins,
  modulePaths: Readonly<Record<string, 'module' | 'commonjs'>> = {}
): void {
  const workersUrl = new URL('./cloudflare-workers.js', import.meta.url).href
  const formats: ModuleFormats = Object.fromEntries(
    Object.entries(modulePaths).map(([path, format]) => [pathToFileURL(path).href, format])
  )
  installBuiltinGuards(builtins)
  type Next = (s: string, c: ResolveContext) => ResolveResult
  type NextLoad = (url: string, c: LoadContext) => LoadResult
  const registerHooks = (
    Module as unknown as {
      registerHooks?: (hooks: {
        resolve: (s: string, c: ResolveContext, next: Next) => ResolveResult
        load?: (url: string, c: LoadContext, next: NextLoad) => LoadResult
      }) => unknown
    }
  ).registerHooks
  if (typeof registerHooks === 'function') {
    registerHooks({
      resolve: (s, c, next) => resolveWith(workersUrl, s, c, next, builtins),
      ...(Object.keys(formats).length > 0
        ? { load: (url, c, next) => loadWith(url, c, next, formats) }
        : {}),
    })
  } else {
    Module.register(new URL('./loader-hooks.js', import.meta.url), {
      data: { workersUrl, builtins, formats },
    })
    // module.register() hooks never see require(): CommonJS Worker code gets them here.
    type ResolveFilename = (
      request: string,
      parent?: { filename?: string },
      ...rest: unknown[]
    ) => string
    const internal = Module as unknown as { _resolveFilename: ResolveFilename }
    const original = internal._resolveFilename
    internal._resolveFilename = function (this: unknown, request, parent, ...rest) {
      const from = parent?.filename === undefined ? undefined : pathToFileURL(parent.filename).href
      const url = replacedBuiltin(builtins, request, from)
      if (url !== undefined && !url.includes('?')) return fileURLToPath(url)
      return original.call(this, request, parent, ...rest)
    }
  }
}

/** `process.getBuiltinModule()` (Node 20.16+) answers Worker code with the same stand-ins. */
function installBuiltinGuards(builtins: Builtins): void {
  const getBuiltinModule = (process as { getBuiltinModule?: (id: string) => unknown })
    .getBuiltinModule
  if (typeof getBuiltinModule !== 'function' || Object.keys(builtins.replaced).length === 0) return
  const requireHere = Module.createRequire(import.meta.url)
  Object.defineProperty(process, 'getBuiltinModule', {
    value: (id: string): unknown => {
      const url = replacedBuiltin(builtins, id, undefined)
      if (url === undefined) return getBuiltinModule.call(process, id)
      if (url.includes('?')) return undefined
      return requireHere(fileURLToPath(url)) as unknown
    },
    configurable: true,
    writable: true,
  })
}

export function hyperdriveBinding(binding: string, info?: HyperdriveInfo, error?: string): object {
  if (info === undefined) {
    const fail = (): never => {
      throw new Error(`wharf: hyperdrive binding ${binding} is unavailable: ${error ?? 'unknown'}`)
    }
    return Object.freeze({
      get connectionString() {
        return fail()
      },
      get host() {
        return fail()
      },
      get port() {
        return fail()
      },
      get user() {
        return fail()
      },
      get password() {
        return fail()
      },
      get database() {
        return fail()
      },
      connect: fail,
    })
  }
  return Object.freeze({
    ...info,
    connect: () => connect({ hostname: info.host, port: info.port }),
  })
}

type FetchHandler = (request: Request, env: object, ctx: ExecutionContext) => unknown
type ConnectHandler = (socket: unknown, env: object, ctx: ExecutionContext) => unknown

/** One export's handlers (the default export's, or a named `WorkerEntrypoint`'s). */
export interface Handlers {
  /** `env` is the Worker's, unless a request brings values of its own (outbound parameters). */
  readonly fetch?: (request: Request, ctx: ExecutionContext, env?: object) => unknown
  readonly connect?: (socket: unknown, ctx: ExecutionContext) => unknown
}

export interface LoadedWorker {
  readonly fetch: (request: Request, ctx: ExecutionContext) => unknown
  /** The handlers of `entrypoint` (the default export when undefined); undefined if no such export. */
  readonly handlers: (entrypoint?: string) => Handlers | undefined
}

function describeExport(value: unknown): string {
  if (value === undefined) return 'no default export'
  if (typeof value === 'function') return 'a default export class without a fetch() method'
  return 'a default export without a fetch() handler'
}

/** workerd's message when a handler the caller needs is not exported. */
export const noHandler = (kind: 'fetch' | 'connect'): string =>
  `Handler does not export a ${kind}() function.`

/** The handlers an export offers: a class gets (ctx, env) per call, as in workerd. */
export function handlersOf(exported: unknown): Handlers | undefined {
  if (typeof exported === 'function') {
    const proto = (exported as { prototype?: { fetch?: unknown; connect?: unknown } }).prototype
    if (proto === undefined) return undefined
    type Instance = { fetch: (request: Request) => unknown; connect: (socket: unknown) => unknown }
    const Entrypoint = exported as new (ctx: ExecutionContext, env: object) => Instance
    return {
      ...(typeof proto.fetch === 'function'
        ? {
            fetch: (request: Request, ctx: ExecutionContext, env: object = workerEnv) =>
              new Entrypoint(ctx, env).fetch(request),
          }
        : {}),
      ...(typeof proto.connect === 'function'
        ? {
            connect: (socket: unknown, ctx: ExecutionContext) =>
              new Entrypoint(ctx, workerEnv).connect(socket),
          }
        : {}),
    }
  }
  if (typeof exported === 'object' && exported !== null) {
    const { fetch, connect } = exported as { fetch?: unknown; connect?: unknown }
    return {
      ...(typeof fetch === 'function'
        ? {
            fetch: (request: Request, ctx: ExecutionContext, env: object = workerEnv) =>
              (fetch as FetchHandler).call(exported, request, env, ctx),
          }
        : {}),
      ...(typeof connect === 'function'
        ? {
            connect: (socket: unknown, ctx: ExecutionContext) =>
              (connect as ConnectHandler).call(exported, socket, workerEnv, ctx),
          }
        : {}),
    }
  }
  return undefined
}

/** Imports the built entry `entry`; `source` (the user's main) names it in messages. */
export async function loadWorker(entry: string, source = entry): Promise<LoadedWorker> {
  const mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>
  const exported = mod.default
  const main = handlersOf(exported)
  // A Worker that only serves connections (a connect() handler) loads too.
  if (main?.fetch !== undefined || main?.connect !== undefined) {
    const fetch = main.fetch
    return {
      fetch:
        fetch === undefined
          ? () => {
              throw new Error(noHandler('fetch'))
            }
          : (request, ctx) => fetch(request, ctx),
      handlers: (entrypoint) =>
        entrypoint === undefined
          ? main
          : Object.hasOwn(mod, entrypoint)
            ? handlersOf(mod[entrypoint])
            : undefined,
    }
  }
  // The service-worker syntax: no handler exported, `fetch` listeners added instead.
  if (exported === undefined && hasFetchListeners()) {
    const fetch = (request: Request, ctx: ExecutionContext): Promise<unknown> =>
      dispatchFetch(request, ctx)
    return {
      fetch,
      handlers: (entrypoint) => (entrypoint === undefined ? { fetch } : undefined),
    }
  }
  throw new Error(
    `${source}: the Worker module has ${describeExport(exported)} (expected \`export default { fetch(request, env, ctx) { … } }\`, a class extending WorkerEntrypoint, or \`addEventListener('fetch', …)\`)`
  )
}
