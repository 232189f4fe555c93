/**
 * The service-worker syntax (`addEventListener('fetch', (event) => event.respondWith(…))`), as
 * workerd runs it: the global scope takes event listeners, a request is a `FetchEvent`
 * dispatched to each `fetch` listener in order, and the Worker's bindings are globals (wrangler
 * picks this format when the entry module exports nothing). A dispatch that ends without
 * `respondWith()` would go to the origin on Cloudflare; wharf has none, so it is answered 500
 * with a log line saying so, as a failed pass-through is in workerd.
 */
import type { ExecutionContext } from './cloudflare-workers.js'

type Listener = ((event: Event) => unknown) | { handleEvent(event: Event): unknown }

interface Registered {
  readonly listener: Listener
  readonly once: boolean
}

const MAX_LISTENERS = 1000
const listeners = new Map<string, Registered[]>()
let installed = false

/** What a dispatch left to the host: the response promise, if `respondWith()` was called. */
const responses = new WeakMap<Event, Promise<unknown>>()
const dispatching = new WeakSet<Event>()
const contexts = new WeakMap<Event, ExecutionContext>()

function contextOf(event: Event): ExecutionContext {
  const ctx = contexts.get(event)
  if (ctx === undefined) throw new TypeError('Illegal invocation')
  return ctx
}

/** workerd's `FetchEvent`: the request, and what the listener answers with. */
export class FetchEvent extends Event {
  readonly request: Request
  constructor(type: string, init: { request: Request }) {
    super(type)
    if (!(init?.request instanceof Request))
      throw new TypeError("Failed to construct 'FetchEvent': request is required")
    this.request = init.request
  }
  respondWith(response: Response | Promise<Response>): void {
    if (responses.has(this))
      throw new DOMException(
        'FetchEvent.respondWith() has already been called; it can only be called once.',
        'InvalidStateError'
      )
    if (!dispatching.has(this))
      throw new DOMException(
        'FetchEvent.respondWith() must be called synchronously, while the event is dispatched.',
        'InvalidStateError'
      )
    responses.set(this, Promise.resolve(response))
  }
  waitUntil(promise: Promise<unknown>): void {
    contextOf(this).waitUntil(Promise.resolve(promise))
  }
  passThroughOnException(): void {
    contextOf(this).passThroughOnException()
  }
}

/** workerd's `ScheduledEvent` (wharf does not run cron triggers; the class is for type checks). */
export class ScheduledEvent extends Event {
  readonly scheduledTime: number
  readonly cron: string
  constructor(type: string, init: { scheduledTime?: number; cron?: string } = {}) {
    super(type)
    this.scheduledTime = init.scheduledTime ?? Date.now()
    this.cron = init.cron ?? ''
  }
}

function addEventListener(
  type: string,
  listener: Listener | null,
  options?: boolean | { once?: boolean }
): void {
  if (listener === null || listener === undefined) return
  if (typeof listener !== 'function' && typeof listener.handleEvent !== 'function') {
    throw new TypeError(
      "Failed to execute 'addEventListener' on 'EventTarget': parameter 2 is not of type 'EventListener'."
    )
  }
  const list = listeners.get(String(type)) ?? []
  if (list.some((r) => r.listener === listener)) return
  if (list.length >= MAX_LISTENERS) throw new RangeError(`more than ${MAX_LISTENERS} listeners`)
  list.push({ listener, once: typeof options === 'object' && options?.once === true })
  listeners.set(String(type), list)
}

function removeEventListener(type: string, listener: Listener | null): void {
  const list = listeners.get(String(type))
  if (list === undefined) return
  const at = list.findIndex((r) => r.listener === listener)
  if (at >= 0) list.splice(at, 1)
}

/** The global scope's event listeners and event classes, before the Worker's code runs. */
export function installEventListeners(): void {
  if (installed) return
  installed = true
  const define = (name: string, value: unknown): void => {
    if (name in globalThis) return
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true })
  }
  define('addEventListener', addEventListener)
  define('removeEventListener', removeEventListener)
  define('FetchEvent', FetchEvent)
  define('ScheduledEvent', ScheduledEvent)
}

/** Whether the Worker's code added a `fetch` listener. */
export function hasFetchListeners(): boolean {
  return (listeners.get('fetch')?.length ?? 0) > 0
}

/**
 * Bindings as globals, for a service-worker Worker. A binding never replaces a global the
 * runtime itself relies on (`fetch`, `Response`, …); those are returned, for a warning.
 */
export function exposeBindingsAsGlobals(env: Readonly<Record<string, unknown>>): string[] {
  const kept: string[] = []
  for (const [name, value] of Object.entries(env)) {
    if (name in globalThis) {
      kept.push(name)
      continue
    }
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true })
  }
  return kept
}

/**
 * One request through the `fetch` listeners. Resolves with what `respondWith()` was given, or
 * rejects: with a listener's exception, or when no listener responded.
 */
export function dispatchFetch(request: Request, ctx: ExecutionContext): Promise<unknown> {
  const event = new FetchEvent('fetch', { request })
  contexts.set(event, ctx)
  dispatching.add(event)
  try {
    for (const registered of [...(listeners.get('fetch') ?? [])]) {
      if (registered.once) removeEventListener('fetch', registered.listener)
      const { listener } = registered
      if (typeof listener === 'function') listener.call(globalThis, event)
      else listener.handleEvent(event)
    }
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)))
  } finally {
    dispatching.delete(event)
  }
  const response = responses.get(event)
  if (response !== undefined) return response
  return Promise.reject(
    new Error(
      'No fetch listener called event.respondWith(): on Cloudflare the request would go on to the origin; wharf has no origin to pass it to'
    )
  )
}
