/**
 * Globals a Worker has on workerd that Node lacks: `self`, `origin`, `scheduler.wait()`,
 * `navigator.userAgent` and the Cache API's `caches`. Libraries test for them: form-data's
 * browser build reads `self.FormData` (axios imports it), pg detects Workers by the user agent.
 * And web streams that, as on workerd, cannot be transferred, and the JavaScript built-ins of
 * workerd's V8 that this Node lacks (language-features.ts).
 */
import { skipTransferableCopy } from '@wharf/sockets/runtime'
import { installLanguageFeatures } from './language-features.js'

type CacheKey = Request | string | URL

/**
 * The Cache API as it behaves where Cloudflare caches nothing (a `workers.dev` route): every
 * lookup misses and `put` stores nothing, so a Worker written for the cache runs and always
 * reaches its origin. The arguments are checked as workerd checks them.
 */
class Cache {
  match(request: CacheKey): Promise<Response | undefined> {
    return settle(() => void requestOf(request))
  }
  matchAll(): Promise<Response[]> {
    return settle(() => [])
  }
  async put(request: CacheKey, response: Response): Promise<void> {
    const key = requestOf(request)
    if (key.method !== 'GET') throw new TypeError('Cannot cache response to non-GET request.')
    if (!(response instanceof Response))
      throw new TypeError("Failed to execute 'put' on 'Cache': parameter 2 is not a Response.")
    // What storing would do: the body is read (and so used), then dropped.
    await response.arrayBuffer().catch(() => undefined)
  }
  delete(request: CacheKey): Promise<boolean> {
    return settle(() => (requestOf(request), false))
  }
  keys(): Promise<Request[]> {
    return settle(() => [])
  }
  add(request: CacheKey): Promise<void> {
    return settle(() => void requestOf(request))
  }
  addAll(requests: CacheKey[]): Promise<void> {
    return settle(() => {
      for (const request of requests) requestOf(request)
    })
  }
}

/** `run`'s value, or its throw as a rejection (workerd rejects; it never throws synchronously). */
function settle<T>(run: () => T): Promise<T> {
  return new Promise((resolve) => resolve(run()))
}

function requestOf(request: CacheKey): Request {
  if (request instanceof Request) return request
  const text = String(request)
  if (!URL.canParse(text)) throw new TypeError(`Invalid URL: ${text}`)
  return new Request(text)
}

class CacheStorage {
  readonly default = new Cache()
  readonly #named = new Map<string, Cache>()
  open(name: string): Promise<Cache> {
    return settle(() => {
      const key = String(name)
      let cache = this.#named.get(key)
      if (cache === undefined) {
        // Bounded: a Worker opening caches by request-derived names must not grow this forever.
        if (this.#named.size >= 1000) return new Cache()
        cache = new Cache()
        this.#named.set(key, cache)
      }
      return cache
    })
  }
}

class Scheduler {
  wait(ms?: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(ms) || 0)))
  }
}

export function installWorkerGlobals(): void {
  const define = (name: string, value: unknown): void => {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true })
  }
  define('self', globalThis)
  define('origin', 'null')
  define('scheduler', new Scheduler())
  define('caches', new CacheStorage())
  // pg and others detect Workers by navigator.userAgent (Node 21+ defines its own navigator).
  define('navigator', { userAgent: 'Cloudflare-Workers' })
  // On Node 20 this spares every stream the copy its constructor makes for transfer (a Response
  // body, a Request body, a TransformStream): about 3% of a request's CPU in the runtime.
  for (const Stream of [ReadableStream, WritableStream, TransformStream]) {
    skipTransferableCopy(Stream.prototype)
  }
  installLanguageFeatures()
}
