/**
 * Module resolution for the Worker's graph in the runtime process: `cloudflare:workers` and
 * `cloudflare:node` map to the host's implementations, and the `workerd` and `worker` export conditions are added (wrangler
 * bundles with them; `browser` is left out because Node is not a browser). `cloudflare:sockets`
 * comes from `@wharf/sockets/register`. A no_bundle Worker's modules load in the formats its
 * module rules give them.
 */
import { readFileSync } from 'node:fs'
export interface ResolveContext {
  conditions?: readonly string[]
  parentURL?: string | undefined
}
export interface ResolveResult {
  url: string
  format?: string | null | undefined
  shortCircuit?: boolean | undefined
}

export interface LoadContext {
  format?: string | null | undefined
}
export interface LoadResult {
  format: string
  source?: string | ArrayBuffer | Uint8Array | null | undefined
  shortCircuit?: boolean | undefined
}
/** no_bundle: file URL → the format Node must load it in (its extension would say otherwise). */
export type ModuleFormats = Readonly<Record<string, 'module' | 'commonjs'>>

export const WORKER_CONDITIONS = ['workerd', 'worker'] as const

/**
 * Built-ins the Worker's code sees replaced (workerd's stubs under nodejs_compat), by bare name,
 * and the URL prefixes of the host's own code, which always gets the real ones.
 */
export interface Builtins {
  readonly replaced: Readonly<Record<string, string>>
  readonly hostPrefixes: readonly string[]
}

let workersUrl = ''
let builtins: Builtins = { replaced: {}, hostPrefixes: [] }
let formats: ModuleFormats = {}

export function initialize(data: {
  workersUrl: string
  builtins?: Builtins
  formats?: ModuleFormats
}): void {
  workersUrl = data.workersUrl
  if (data.builtins) builtins = data.builtins
  if (data.formats) formats = data.formats
}

/** The replacement for a built-in `specifier` imported by Worker code, if there is one. */
export function replacedBuiltin(
  table: Builtins,
  specifier: string,
  parentURL: string | undefined
): string | undefined {
  const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier
  const url = table.replaced[name]
  if (url === undefined) return undefined
  if (parentURL !== undefined && table.hostPrefixes.some((p) => parentURL.startsWith(p)))
    return undefined
  return url
}

/** Shared by `module.register` (async) and `module.registerHooks` (sync) variants. */
export function resolveWith<R>(
  target: string,
  specifier: string,
  context: ResolveContext,
  next: (specifier: string, context: ResolveContext) => R,
  table: Builtins = builtins
): R | ResolveResult {
  if (specifier === 'cloudflare:workers')
    return { url: target, format: 'module', shortCircuit: true }
  if (specifier === 'cloudflare:node')
    return {
      url: new URL('./cloudflare-node.js', target).href,
      format: 'module',
      shortCircuit: true,
    }
  const replacement = replacedBuiltin(table, specifier, context.parentURL)
  if (replacement !== undefined) return { url: replacement, format: 'module', shortCircuit: true }
  const conditions = context.conditions ?? []
  if (WORKER_CONDITIONS.every((c) => conditions.includes(c))) return next(specifier, context)
  return next(specifier, { ...context, conditions: [...conditions, ...WORKER_CONDITIONS] })
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  next: (specifier: string, context: ResolveContext) => Promise<ResolveResult>
): Promise<ResolveResult> {
  return resolveWith(workersUrl, specifier, context, next)
}

/**
 * Shared by both variants: a no_bundle Worker's CommonJS (by a rule), Text, Data and
 * CompiledWasm modules, read with the format the build recorded (the source is passed, so
 * Node runs CommonJS through these hooks too, whatever the file's extension).
 */
export function loadWith<R>(
  url: string,
  context: LoadContext,
  next: (url: string, context: LoadContext) => R,
  table: ModuleFormats = formats
): R | LoadResult {
  const file = url.replace(/[?#].*$/, '')
  const format = Object.hasOwn(table, file) ? table[file] : undefined
  if (format === undefined) return next(url, context)
  return { format, source: readFileSync(new URL(file)), shortCircuit: true }
}

export async function load(
  url: string,
  context: LoadContext,
  next: (url: string, context: LoadContext) => Promise<LoadResult>
): Promise<LoadResult> {
  return loadWith(url, context, next)
}
