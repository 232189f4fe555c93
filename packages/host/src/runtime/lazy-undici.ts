/**
 * npm undici, loaded on first use. Importing it is about a third of a second of every runtime
 * process's start (measured on the 2-core dev machine), and most Workers never call fetch().
 */
import { createRequire } from 'node:module'
import type * as Undici from 'undici'

const load = createRequire(import.meta.url)
let loaded: typeof Undici | undefined

export function undici(): typeof Undici {
  return (loaded ??= load('undici') as typeof Undici)
}

/** Where Node's fetch (and undici's setGlobalDispatcher) keep the global dispatcher. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1')

/**
 * Installs the global dispatcher for Node's fetch without loading undici: a stand-in that makes
 * the real one on first use and forwards everything to it.
 */
export function setLazyGlobalDispatcher(make: () => Undici.Dispatcher): void {
  let real: Undici.Dispatcher | undefined
  const target = (): Undici.Dispatcher => (real ??= make())
  const standIn = new Proxy(
    {},
    {
      get: (_, key) => {
        const dispatcher = target()
        const value: unknown = Reflect.get(dispatcher, key, dispatcher)
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(dispatcher)
          : value
      },
      has: (_, key) => Reflect.has(target(), key),
    }
  )
  // As undici's setGlobalDispatcher defines it.
  Object.defineProperty(globalThis, GLOBAL_DISPATCHER, {
    value: standIn,
    writable: true,
    enumerable: false,
    configurable: false,
  })
}
