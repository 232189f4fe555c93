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
  replacedBuiltin,
  resolveWith,
  type Builtins,
  type ResolveContext,
  type ResolveResult,
} from './loader-hooks.js'
import type { Compat } from './node/compat.js'

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
  }
  return { replaced, hostPrefixes: hostPrefixes() }
}

export function registerResolution(builtins: Builtins): void {
  const workersUrl = new URL('./cloudflare-workers.js', import.meta.url).href
  installBuiltinGuards(builtins)
  type Next = (s: string, c: ResolveContext) => ResolveResult
  const registerHooks = (
    Module as unknown as {
      registerHooks?: (hooks: {
        resolve: (s: string, c: ResolveContext, next: Next) => ResolveResult
      }) => unknown
    }
  ).registerHooks
  if (typeof registerHooks === 'function') {
    registerHooks({ resolve: (s, c, next) => resolveWith(workersUrl, s, c, next, builtins) })
  } else {
    Module.register(new URL('./loader-hooks.js', import.meta.url), {
      data: { workersUrl, builtins },
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

export interface LoadedWorker {
  fetch(request: Request, ctx: ExecutionContext): unknown
}

function describeExport(value: unknown): string {
  if (value === undefined) return 'no default export'
  if (typeof value === 'function') return 'a default export class without a fetch() method'
  return 'a default export without a fetch() handler'
}

/** Imports the built entry `entry`; `source` (the user's main) names it in messages. */
export async function loadWorker(entry: string, source = entry): Promise<LoadedWorker> {
  const mod = (await import(pathToFileURL(entry).href)) as { default?: unknown }
  const exported = mod.default
  if (typeof exported === 'function') {
    const proto = (exported as { prototype?: { fetch?: unknown } }).prototype
    if (proto !== undefined && typeof proto.fetch === 'function') {
      const Entrypoint = exported as new (
        ctx: ExecutionContext,
        env: object
      ) => {
        fetch: (request: Request) => unknown
      }
      // WorkerEntrypoint subclasses (and plain classes with fetch) get (ctx, env), as in workerd.
      return { fetch: (request, ctx) => new Entrypoint(ctx, workerEnv).fetch(request) }
    }
  } else if (typeof exported === 'object' && exported !== null) {
    const handler = (exported as { fetch?: unknown }).fetch
    if (typeof handler === 'function') {
      return {
        fetch: (request, ctx) => (handler as FetchHandler).call(exported, request, workerEnv, ctx),
      }
    }
  }
  throw new Error(
    `${source}: the Worker module has ${describeExport(exported)} (expected \`export default { fetch(request, env, ctx) { … } }\` or a class extending WorkerEntrypoint)`
  )
}
