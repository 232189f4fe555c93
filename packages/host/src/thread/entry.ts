/**
 * A Worker thread: loads one Worker module with `cloudflare:sockets` and `cloudflare:workers`
 * resolvable, installs the request-scoped socket runtime, and serves requests sent by the main
 * thread. Hot reload terminates this thread and starts a fresh one (ESM caches never reload).
 */
import '@wharf/sockets/register'
import Module from 'node:module'
import { parentPort, workerData } from 'node:worker_threads'
import { pathToFileURL } from 'node:url'
import { connect } from '@wharf/sockets'
import { setSocketRuntime } from '@wharf/sockets/runtime'
import { env as workerEnv, type ExecutionContext } from '../cloudflare-workers.js'
import { createHostPolicy } from '../egress.js'
import type { FromThread, HyperdriveInfo, ThreadData, ToThread } from '../protocol.js'
import { RequestScope, requestStore } from '../request-scope.js'
import { SocketLimiter } from '../socket-runtime.js'
import { resolveWith, type ResolveContext, type ResolveResult } from './loader-hooks.js'

function threadPort(): NonNullable<typeof parentPort> {
  if (parentPort === null) throw new Error('wharf: thread/entry.js must run in a worker thread')
  return parentPort
}
const port = threadPort()
const data = workerData as ThreadData
const post = (message: FromThread, transfer?: ArrayBuffer[]): void => {
  port.postMessage(message, transfer ?? [])
}

// A Worker's stray exception must never take the host down: log it with its stack and go on.
process.on('uncaughtException', (error) => {
  console.error('[wharf:error] uncaught exception in the Worker:', error)
})
process.on('unhandledRejection', (reason) => {
  console.error('[wharf:error] unhandled rejection in the Worker:', reason)
})

function registerResolution(): void {
  const workersUrl = new URL('../cloudflare-workers.js', import.meta.url).href
  type Next = (s: string, c: ResolveContext) => ResolveResult
  const registerHooks = (
    Module as unknown as {
      registerHooks?: (hooks: {
        resolve: (s: string, c: ResolveContext, next: Next) => ResolveResult
      }) => unknown
    }
  ).registerHooks
  if (typeof registerHooks === 'function') {
    registerHooks({ resolve: (s, c, next) => resolveWith(workersUrl, s, c, next) })
  } else {
    Module.register(new URL('./loader-hooks.js', import.meta.url), { data: { workersUrl } })
  }
}

function hyperdriveBinding(binding: string, info?: HyperdriveInfo, error?: string): object {
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

interface LoadedWorker {
  fetch(request: Request, ctx: ExecutionContext): unknown
}

function describeExport(value: unknown): string {
  if (value === undefined) return 'no default export'
  if (typeof value === 'function') return 'a default export class without a fetch() method'
  return 'a default export without a fetch() handler'
}

async function loadWorker(): Promise<LoadedWorker> {
  if (/\.[cm]?tsx?$/.test(data.main)) {
    const { register } = await import('tsx/esm/api')
    register()
  }
  const mod = (await import(pathToFileURL(data.main).href)) as { default?: unknown }
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
    `${data.main}: the Worker module has ${describeExport(exported)} (expected \`export default { fetch(request, env, ctx) { … } }\` or a class extending WorkerEntrypoint)`
  )
}

// ---- requests ----------------------------------------------------------------------------

const RESPONSE_WINDOW = 1 << 20

interface Exchange {
  readonly abort: AbortController
  body?: { chunks: Uint8Array[]; ended: boolean; wake?: () => void }
  inflight: number
  ackWaiter?: () => void
}
const exchanges = new Map<number, Exchange>()

function requestBody(id: number, exchange: Exchange): ReadableStream<Uint8Array> {
  const body: NonNullable<Exchange['body']> = { chunks: [], ended: false }
  exchange.body = body
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (body.chunks.length === 0 && !body.ended && !exchange.abort.signal.aborted) {
        await new Promise<void>((resolve) => (body.wake = resolve))
      }
      const chunk = body.chunks.shift()
      if (chunk !== undefined) {
        controller.enqueue(chunk)
        post({ t: 'bodyAck', id, bytes: chunk.byteLength })
      } else if (exchange.abort.signal.aborted)
        controller.error(new Error('Network connection lost.'))
      else controller.close()
    },
  })
}

async function sendResponse(id: number, exchange: Exchange, response: Response): Promise<void> {
  const headers: [string, string][] = []
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.push([name, value])
  })
  for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie])
  const head = {
    t: 'head' as const,
    id,
    status: response.status,
    statusText: response.statusText,
    headers,
  }
  if (response.body === null) {
    post({ ...head, end: true })
    return
  }
  const reader = response.body.getReader()
  const onAbort = (): void => void reader.cancel().catch(() => undefined)
  exchange.abort.signal.addEventListener('abort', onAbort)
  try {
    const first = await reader.read()
    if (first.done) {
      post({ ...head, end: true })
      return
    }
    // Most responses are one chunk: if the stream ends right away, send head, body and end at once.
    const next = reader.read()
    const soon = await Promise.race([next, new Promise<null>((r) => setImmediate(() => r(null)))])
    const firstChunk = copy(first.value)
    if (soon !== null && soon.done) {
      post({ ...head, chunk: firstChunk, end: true }, [firstChunk.buffer as ArrayBuffer])
      return
    }
    exchange.inflight += firstChunk.byteLength
    post({ ...head, chunk: firstChunk, end: false }, [firstChunk.buffer as ArrayBuffer])
    let result = soon ?? (await next)
    while (!result.done) {
      const chunk = copy(result.value)
      exchange.inflight += chunk.byteLength
      post({ t: 'chunk', id, chunk }, [chunk.buffer as ArrayBuffer])
      while (exchange.inflight > RESPONSE_WINDOW && !exchange.abort.signal.aborted) {
        await new Promise<void>((resolve) => (exchange.ackWaiter = resolve))
      }
      if (exchange.abort.signal.aborted) return
      result = await reader.read()
    }
    post({ t: 'end', id })
  } finally {
    exchange.abort.signal.removeEventListener('abort', onAbort)
  }
}

/** A private copy we can transfer (the Worker may still hold the original). */
function copy(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength))
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0))
  if (typeof value === 'string') return new TextEncoder().encode(value)
  throw new TypeError(
    'This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.'
  )
}

function failResponse(id: number, error: unknown): void {
  const stack = error instanceof Error ? (error.stack ?? String(error)) : String(error)
  console.error(`[wharf:error] ${stack}`)
  post({ t: 'fail', id, stack })
}

async function serve(
  worker: LoadedWorker,
  limiter: SocketLimiter,
  message: Extract<ToThread, { t: 'req' }>
): Promise<void> {
  const { id } = message
  const exchange: Exchange = { abort: new AbortController(), inflight: 0 }
  exchanges.set(id, exchange)
  const scope = new RequestScope(id)
  let passThrough = false
  const ctx: ExecutionContext = {
    waitUntil: (promise) => scope.waitUntil(promise),
    passThroughOnException: () => {
      passThrough = true
    },
    props: {},
  }
  await requestStore.run(scope, async () => {
    try {
      const hasBody = message.body && message.method !== 'GET' && message.method !== 'HEAD'
      const request = new Request(message.url, {
        method: message.method,
        headers: message.headers,
        signal: exchange.abort.signal,
        ...(hasBody ? { body: requestBody(id, exchange), duplex: 'half' } : {}),
      })
      let response: unknown
      try {
        response = await worker.fetch(request, ctx)
        if (!(response instanceof Response)) {
          throw new TypeError(
            "Incorrect type for Promise: the Promise did not resolve to 'Response'."
          )
        }
      } catch (error) {
        if (passThrough) {
          console.error(
            '[wharf:warn] passThroughOnException(): wharf dev has no origin to pass the request to; answering 500'
          )
        }
        failResponse(id, error)
        return
      }
      try {
        await sendResponse(id, exchange, response)
      } catch (error) {
        failResponse(id, error)
      }
    } finally {
      exchanges.delete(id)
      if (!(await scope.settled(data.limits.waitUntilTimeoutMs))) {
        console.error(
          `[wharf:warn] waitUntil() still pending ${data.limits.waitUntilTimeoutMs} ms after the response; ending the request`
        )
      }
      await limiter.endScope(scope)
      post({ t: 'done', id })
    }
  })
}

async function start(): Promise<void> {
  registerResolution()
  // pg and others detect Workers by navigator.userAgent (Node 21+ defines its own navigator).
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: 'Cloudflare-Workers' },
    configurable: true,
    writable: true,
  })
  const policy = await createHostPolicy({
    egress: data.egress,
    exceptions: data.exceptions,
    hostAddresses: data.hostAddresses,
  })
  const limiter = new SocketLimiter(data.limits, policy)
  setSocketRuntime(limiter)
  Object.assign(workerEnv, data.vars)
  for (const h of data.hyperdrive)
    workerEnv[h.binding] = hyperdriveBinding(h.binding, h.info, h.error)
  let worker: LoadedWorker
  try {
    worker = await loadWorker()
  } catch (error) {
    post({
      t: 'loadError',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    })
    return
  }
  port.on('message', (message: ToThread) => {
    switch (message.t) {
      case 'req':
        void serve(worker, limiter, message)
        break
      case 'body': {
        const body = exchanges.get(message.id)?.body
        if (body) {
          body.chunks.push(message.chunk)
          body.wake?.()
        }
        break
      }
      case 'bodyEnd': {
        const body = exchanges.get(message.id)?.body
        if (body) {
          body.ended = true
          body.wake?.()
        }
        break
      }
      case 'abort': {
        const exchange = exchanges.get(message.id)
        if (exchange) {
          exchange.abort.abort(new Error('The client disconnected'))
          exchange.body?.wake?.()
          exchange.ackWaiter?.()
        }
        break
      }
      case 'ack': {
        const exchange = exchanges.get(message.id)
        if (exchange) {
          exchange.inflight -= message.bytes
          if (exchange.inflight <= RESPONSE_WINDOW) exchange.ackWaiter?.()
        }
        break
      }
    }
  })
  post({ t: 'ready' })
}

await start()
