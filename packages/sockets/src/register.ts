/**
 * `node --import @wharf/sockets/register app.mjs`: makes `cloudflare:sockets` resolve to this
 * package for static `import`, dynamic `import()` and `require()`.
 *
 * Node >= 22.15 / 23.5 has `module.registerHooks()` (synchronous, in-thread, covers `require`).
 * Older Node gets `module.register()` for the ESM loader plus a `Module._resolveFilename` patch for
 * `require()`, which `module.register()` resolve hooks never see. The specifier maps to the
 * implementation file itself, never the package root (under the `workerd` condition a package root
 * may re-export `cloudflare:sockets`, which would be a cycle). Nothing here uses top-level await,
 * so CommonJS code can `require()` the result.
 *
 * It also stops the one rejection that Workers drivers leave unhandled on `close()` from ending the
 * process (see close-rejections.ts); other unhandled rejections behave as Node's defaults.
 *
 * @module
 */
import Module from 'node:module'
import { fileURLToPath } from 'node:url'
import { logSocketClosedRejections } from './close-rejections.js'

export const SPECIFIER = 'cloudflare:sockets'
const targetUrl = new URL('./index.js', import.meta.url).href
const targetPath = fileURLToPath(targetUrl)

interface SyncResolveResult {
  url: string
  format?: string | null | undefined
  shortCircuit?: boolean | undefined
}
type RegisterHooks = (hooks: {
  resolve: (
    specifier: string,
    context: unknown,
    next: (specifier: string, context: unknown) => SyncResolveResult
  ) => SyncResolveResult
}) => unknown

const registered = Symbol.for('wharf.sockets.register')
const g = globalThis as { [registered]?: boolean }

if (g[registered] !== true) {
  g[registered] = true
  // Workers drivers leave a rejection unhandled on close(); workerd logs it, Node would exit.
  logSocketClosedRejections()
  const registerHooks = (Module as unknown as { registerHooks?: RegisterHooks }).registerHooks
  if (typeof registerHooks === 'function') {
    registerHooks({
      resolve(specifier, context, next) {
        if (specifier === SPECIFIER) return { url: targetUrl, format: 'module', shortCircuit: true }
        return next(specifier, context)
      },
    })
  } else {
    Module.register(new URL('./hooks.js', import.meta.url), { data: { target: targetUrl } })
    type ResolveFilename = (request: string, ...rest: unknown[]) => string
    const internal = Module as unknown as { _resolveFilename: ResolveFilename }
    const original = internal._resolveFilename
    internal._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
      if (request === SPECIFIER) return targetPath
      return original.call(this, request, ...rest)
    }
  }
}
