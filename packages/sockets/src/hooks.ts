/**
 * ESM loader hooks for `module.register()` (Node < 22.15): map `cloudflare:sockets` to this
 * package's implementation file. They run on the loader thread, so the target URL comes as data.
 */
interface ResolveContext {
  conditions: string[]
  parentURL?: string | undefined
}
interface ResolveResult {
  url: string
  format?: string | null | undefined
  shortCircuit?: boolean | undefined
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<ResolveResult>

let target = ''

export function initialize(data: { target: string }): void {
  target = data.target
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve
): Promise<ResolveResult> {
  if (specifier === 'cloudflare:sockets' && target !== '') {
    return { url: target, format: 'module', shortCircuit: true }
  }
  return nextResolve(specifier, context)
}
