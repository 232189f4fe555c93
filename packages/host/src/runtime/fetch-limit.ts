/**
 * `fetch()` counts toward the per-request connection limit as Cloudflare counts it since the
 * 2026-04-09 change to its limits page ("Simultaneous open connections": six connections
 * simultaneously waiting for response headers; a seventh waits in a queue; a connection is freed
 * as soon as its response headers arrive). So a fetch takes one of the request's slots from the
 * call until its response headers arrive (when `fetch()` resolves), in the same FIFO queue as
 * `connect()`. A `connect()` socket keeps its slot for its whole life: the limits page lists
 * `connect()` among what counts and a raw socket has no response headers to free it (see
 * docs/host.md, "Limits"). A service binding's `fetch()` counts the same way (the limits page
 * counts every fetch, and a service binding's chain shares the budget).
 */
import type { SocketLimiter } from './socket-runtime.js'

type Fetch = (input: Request | string | URL, init?: RequestInit) => Promise<Response>

export function countFetchConnections(limiter: SocketLimiter): void {
  globalThis.fetch = limitFetch(limiter, globalThis.fetch)
}

/** `original`, each call holding one of its request's slots until its response headers arrive. */
export function limitFetch(limiter: SocketLimiter, original: Fetch): Fetch {
  return async (input, init) => {
    const controller = new AbortController()
    // Throws workerd's global-scope error outside a request, as connect() does.
    const terms = limiter.admit(undefined, {
      close: () => {
        controller.abort(new Error('the request ended before the response headers arrived'))
        return Promise.resolve()
      },
    })
    try {
      await terms.admitted
      const signals = [controller.signal]
      if (init?.signal) signals.push(init.signal)
      else if (input instanceof Request) signals.push(input.signal)
      return await original(input, { ...init, signal: AbortSignal.any(signals) })
    } finally {
      terms.onFinished?.()
    }
  }
}
