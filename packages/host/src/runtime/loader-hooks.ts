/**
 * Module resolution for the Worker's graph inside its thread: `cloudflare:workers` maps to the
 * host's implementation, and the `workerd` and `worker` export conditions are added (wrangler
 * bundles with them; `browser` is left out because Node is not a browser). `cloudflare:sockets`
 * comes from `@wharf/sockets/register`.
 */
export interface ResolveContext {
  conditions?: readonly string[]
  parentURL?: string | undefined
}
export interface ResolveResult {
  url: string
  format?: string | null | undefined
  shortCircuit?: boolean | undefined
}

export const WORKER_CONDITIONS = ['workerd', 'worker'] as const

let workersUrl = ''

export function initialize(data: { workersUrl: string }): void {
  workersUrl = data.workersUrl
}

/** Shared by `module.register` (async) and `module.registerHooks` (sync) variants. */
export function resolveWith<R>(
  target: string,
  specifier: string,
  context: ResolveContext,
  next: (specifier: string, context: ResolveContext) => R
): R | ResolveResult {
  if (specifier === 'cloudflare:workers')
    return { url: target, format: 'module', shortCircuit: true }
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
