/**
 * The runtime process of one Worker version: loads the Worker module with `cloudflare:sockets`
 * and `cloudflare:workers` resolvable, installs the request-scoped socket runtime, and serves the
 * HTTP connections the supervisor hands it. Hot reload starts a fresh process (ESM caches never
 * reload) and drains this one.
 */
import '@wharf/sockets/register'
import http from 'node:http'
// The real process, by import: Worker code may replace globalThis.process (unenv's polyfill does).
import process from 'node:process'
import { setSocketRuntime } from '@wharf/sockets/runtime'
import { env as workerEnv, type ExecutionContext } from './cloudflare-workers.js'
import { WharfStartupError } from '../errors.js'
import { flushLog, logLine } from '../logger.js'
import type { FromRuntime, RuntimeData, ToRuntime } from '../protocol.js'
import { RequestScope, requestStore } from './request-scope.js'
import { SocketLimiter } from './socket-runtime.js'
import { DialBroker } from '../broker.js'
import { carryClosesWith, dial, onDialReply, routeFetchThrough } from './dial-client.js'
import { onSupervisorMessage, openFdChannel } from './supervisor-link.js'
import { routeClientConnections } from './node/http.js'
import { installWorkerGlobals } from './worker-globals.js'
import { toRequest, trackFixedBodies, writeResponse } from './http-bridge.js'
import { installRequestCf, receivedWithCf } from './request-cf.js'
import { rateLimitBinding } from './rate-limit.js'
import { exposeBindingsAsGlobals, installEventListeners } from './service-worker.js'
import { ServeRuntime, type Tracked } from './serve-runtime.js'
import { SubrequestLimit } from './subrequest-limit.js'
import { vpcBinding, type DialVia } from './vpc-bindings.js'
import { AssetServer } from '../assets/index.js'
import { unsupportedBinding } from '../unsupported-bindings.js'
import { countFetchConnections, limitFetch } from './fetch-limit.js'
import {
  builtinsFor,
  hyperdriveBinding,
  loadWorker,
  registerResolution,
  type LoadedWorker,
} from './worker-module.js'
import { compatOf } from './node/compat.js'
import { dispatchNamespace, outboundFetch, serviceBinding } from './services.js'
import { serveInbound } from './inbound.js'
import {
  MAX_OUTBOUND_PARAMS,
  OUTBOUND_CONNECT,
  OUTBOUND_PARAMS_HEADER,
  URL_HEADER,
} from '../services/routes.js'
import { shapeProcess } from './node/process.js'
import { bundleFiles } from './node/fs/bundle.js'
import { setBundle } from './node/fs/tree.js'

const send = (message: FromRuntime): void => {
  process.send?.(message)
}

// A Worker's stray exception must never take the host down: log it with its stack and go on.
process.on('uncaughtException', (error) => {
  console.error('[wharf:error] uncaught exception in the Worker:', error)
})
process.on('unhandledRejection', (reason) => {
  // pg-cloudflare and postgres.js leave this one behind on every close(); workerd only logs it
  // at debug level too (see @wharf/sockets close-rejections.ts). Anything else is printed.
  if (reason instanceof TypeError && reason.message === 'This socket has been closed.') return
  console.error('[wharf:error] unhandled rejection in the Worker:', reason)
})
// Dial replies may arrive at any time, even while the Worker module loads (a top-level fetch).
onSupervisorMessage((message, handle) => {
  onDialReply(message, handle)
})
// Request lines are batched: whatever way the process ends, the last ones are written.
process.on('exit', () => flushLog())
// The supervisor went away: so do we.
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => {
  flushLog()
  process.exit(0)
})

let nextId = 1
let live = 0
let draining = false

function stack(error: unknown): string {
  return error instanceof Error ? (error.stack ?? String(error)) : String(error)
}

/**
 * A connection handed over just before the drain order has not been parsed yet and looks idle:
 * idle connections are closed only after this grace, so its request is served, not reset.
 */
const DRAIN_GRACE_MS = 500
let graceOver = false

function maybeExit(server: http.Server): void {
  if (!draining || !graceOver || live > 0) return
  flushLog()
  server.close(() => process.exit(0))
  server.closeAllConnections()
}

async function serve(
  data: RuntimeData,
  assets: AssetServer | undefined,
  worker: LoadedWorker,
  limiter: SocketLimiter,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  hooks?: ServeRuntime,
  tracked?: Tracked,
  service?: { entrypoint?: string }
): Promise<void> {
  const scope = new RequestScope(nextId++)
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
      let response: unknown
      try {
        if (tracked) hooks?.enter(tracked)
        const request = toRequest(req, data.origin)
        if (service === undefined) receivedWithCf(request, req)
        response =
          service === undefined
            ? (assets?.route(request) ?? (await worker.fetch(request, ctx)))
            : await serviceFetch(worker, service.entrypoint, request, ctx, scope, data)
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
        console.error(`[wharf:error] ${stack(error)}`)
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
          res.end(`Internal Server Error\n\n${stack(error)}\n`)
        } else res.destroy()
        return
      }
      if (draining) res.shouldKeepAlive = false
      try {
        await writeResponse(res, response)
      } catch (error) {
        console.error(`[wharf:error] ${stack(error)}`)
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      }
    } finally {
      if (!(await scope.settled(data.limits.waitUntilTimeoutMs))) {
        console.error(
          `[wharf:warn] waitUntil() still pending ${data.limits.waitUntilTimeoutMs} ms after the response; ending the request`
        )
      }
      await limiter.endScope(scope)
    }
  })
}

/**
 * A service binding's request: the caller's URL (scheme and host) comes in a header, since the
 * connection is local; the callee's handler is the binding's entrypoint. A dispatch's outbound
 * parameters come in a header too: a user Worker behind an Outbound Worker passes them on with
 * its fetch() calls; any other Worker (the Outbound Worker) gets them in its `env`.
 */
function serviceFetch(
  worker: LoadedWorker,
  entrypoint: string | undefined,
  incoming: Request,
  ctx: ExecutionContext,
  scope: RequestScope,
  data: RuntimeData
): unknown {
  const handler = worker.handlers(entrypoint)?.fetch
  if (handler === undefined) throw new Error('Handler does not export a fetch() function.')
  const url = incoming.headers.get(URL_HEADER)
  const params = incoming.headers.get(OUTBOUND_PARAMS_HEADER)
  let env: object | undefined
  if (params !== null && params.length <= MAX_OUTBOUND_PARAMS) {
    if (data.outbound === true) scope.outboundParams = params
    else env = withOutboundParams(params)
  }
  let request = incoming
  if (url !== null && URL.canParse(url)) {
    const headers = new Headers(incoming.headers)
    headers.delete(URL_HEADER)
    headers.delete(OUTBOUND_PARAMS_HEADER)
    request = new Request(url, {
      method: incoming.method,
      headers,
      body: incoming.body,
      redirect: incoming.redirect,
      ...(incoming.body === null ? {} : { duplex: 'half' }),
    })
  }
  return handler(request, ctx, env)
}

/** The Worker's env with a request's outbound parameters over it (binding names only). */
function withOutboundParams(json: string): object | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const env: Record<string, unknown> = { ...workerEnv }
  for (const [key, value] of Object.entries(parsed)) {
    if (/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)) env[key] = value
  }
  return Object.freeze(env)
}

/** HTTP connections from service bindings (not the host's listener), with their entrypoint. */
const serviceConnections = new WeakMap<object, { entrypoint?: string }>()

async function start(data: RuntimeData): Promise<void> {
  const initAt = performance.now()
  // Before the Worker loads: its top-level code may dial already.
  const channelOpen = data.fdChannel !== undefined && openFdChannel(data.fdChannel)
  // Stack traces and error pages name the user's files and lines (the bundle's source map).
  process.setSourceMapsEnabled(true)
  // Always: cloudflare:workers for no_bundle, and workerd's stand-ins for the built-ins the
  // bundle leaves to the runtime (node-builtins.ts) or a computed import() reaches.
  const compat = compatOf(data)
  registerResolution(builtinsFor(compat), data.moduleFormats)
  shapeProcess(compat, data.vars)
  if (compat.nodejsCompat) setBundle(bundleFiles(data.main, data.source, data.unbundled === true))
  installWorkerGlobals()
  // Isolated, connections are opened by the supervisor's broker, which holds the egress policy;
  // otherwise the same broker logic runs here (no IPC round trip, but node:net is not stopped).
  // `wharf serve` only: limits, watchdog, per-request reports.
  const hooks = data.serve ? new ServeRuntime(data.serve, send) : undefined
  if (hooks) carryClosesWith(() => hooks.takeClosed())
  let opener = hooks ? hooks.wrapDial(dial) : dial
  if (data.brokered !== true) {
    const local = DialBroker.forRuntime(
      data,
      undefined,
      hooks &&
        ((hostname, port, decision) => {
          if (!decision.allowed) hooks.denied(decision.rule, hostname, port)
        })
    )
    opener = (target, signal) => local.open(target.hostname, target.port, signal)
  }
  // Tunnel flows and service connections always come from the supervisor (the tunnel edge, the
  // other Workers). Under serve their closes are reported too: each holds a host-wide slot.
  const dialVia: DialVia = hooks
    ? (via, target, signal) => hooks.wrapDial((t, s) => dial(t, s, via))(target, signal)
    : (via, target, signal) => dial(target, signal, via)
  // Behind an Outbound Worker every connection goes to its connect() handler (as in workerd,
  // where a Worker as globalOutbound receives them), so without one connect() fails.
  if (data.outbound === true) {
    const timeout = data.limits.connectTimeoutMs
    opener = (target, signal) =>
      dialVia(OUTBOUND_CONNECT, target, signal ?? AbortSignal.timeout(timeout))
  }
  const limiter = new SocketLimiter(data.limits, opener, dialVia)
  routeFetchThrough(opener, data.limits.connectTimeoutMs)
  routeClientConnections(opener, data.limits.connectTimeoutMs)
  setSocketRuntime(limiter)
  if (data.outbound === true)
    globalThis.fetch = outboundFetch(dialVia, data.limits.connectTimeoutMs)
  countFetchConnections(limiter)
  hooks?.limit(limiter)
  // Serve always has a limit (Cloudflare's default); dev only when the config sets one.
  const maxSubrequests = data.serve?.subrequests ?? data.subrequests
  if (maxSubrequests !== undefined) {
    limiter.limitSubrequests(new SubrequestLimit(maxSubrequests, () => hooks?.subrequestDenied()))
  }
  for (const b of data.unsupported ?? []) workerEnv[b.binding] = unsupportedBinding(b)
  for (const r of data.rateLimits ?? []) workerEnv[r.binding] = rateLimitBinding(r)
  if (data.versionMetadata !== undefined) {
    const { binding, id, tag, timestamp } = data.versionMetadata
    workerEnv[binding] = Object.freeze({ id, tag, timestamp })
  }
  Object.assign(workerEnv, data.vars)
  for (const h of data.hyperdrive) {
    workerEnv[h.binding] = hyperdriveBinding(h.binding, h.info, h.error)
  }
  for (const binding of data.services ?? []) {
    workerEnv[binding] = serviceBinding(binding, dialVia, data.limits.connectTimeoutMs, (f) =>
      limitFetch(limiter, f)
    )
  }
  data.dispatch?.forEach((d, i) => {
    workerEnv[d.binding] = dispatchNamespace(i, d, dialVia, data.limits.connectTimeoutMs, (f) =>
      limitFetch(limiter, f)
    )
  })
  for (const v of data.vpc ?? []) {
    workerEnv[v.binding] = vpcBinding(v, dialVia, data.limits.connectTimeoutMs)
  }
  const assets = data.assets === undefined ? undefined : new AssetServer(data.assets)
  if (assets !== undefined && data.assets?.binding !== undefined) {
    workerEnv[data.assets.binding] = Object.freeze({
      fetch: (input: Request | string | URL, init?: RequestInit) =>
        Promise.resolve(assets.fetch(new Request(input, init))),
    })
  }
  // Before the Worker's code runs: its Responses are made with the tracked class.
  trackFixedBodies()
  installRequestCf()
  let worker: LoadedWorker
  try {
    hooks?.beginStartup()
    installEventListeners()
    if (data.serviceWorker === true) {
      for (const name of exposeBindingsAsGlobals(workerEnv)) {
        console.error(
          `[wharf:warn] binding ${name} is not a global of this service-worker Worker: the global of that name stays`
        )
      }
    }
    worker = await loadWorker(data.main, data.source)
  } catch (error) {
    send({ t: 'loadError', message: stack(error) })
    return
  }
  const loadedAt = performance.now()
  const tooSlow = hooks?.endStartup()
  if (tooSlow !== undefined) {
    send({ t: 'loadError', code: WharfStartupError.code, message: tooSlow })
    return
  }
  // A Worker other than the primary names itself on its request lines.
  const label = data.name === undefined ? '' : `${data.name}: `
  const server = http.createServer((req, res) => {
    const started = performance.now()
    live++
    const tracked = hooks?.begin(req, res)
    res.on('close', () => {
      if (hooks && tracked) {
        hooks.end(tracked, req, res)
        return
      }
      const ms = Math.round(performance.now() - started)
      const status = !res.writableFinished
        ? 'canceled (the client disconnected)'
        : `${res.statusCode} ${res.statusMessage || http.STATUS_CODES[res.statusCode] || ''}`
      logLine(
        `[wharf:info] ${label}${req.method ?? 'GET'} ${(req.url ?? '/').slice(0, 512)} ${status.trim()} (${ms}ms)`
      )
    })
    serve(
      data,
      assets,
      worker,
      limiter,
      req,
      res,
      hooks,
      tracked,
      serviceConnections.get(req.socket)
    )
      .catch((error: unknown) => console.error(`[wharf:error] ${stack(error)}`))
      .finally(() => {
        live--
        maybeExit(server)
      })
  })
  server.keepAliveTimeout = 5000
  hooks?.attach(server)
  onSupervisorMessage((message, handle) => {
    if (message.t === 'conn' && handle !== undefined) {
      if (draining) handle.destroy()
      else {
        if (message.service !== undefined) {
          const entrypoint = message.service.entrypoint
          serviceConnections.set(handle, typeof entrypoint === 'string' ? { entrypoint } : {})
        }
        server.emit('connection', handle)
      }
    } else if (message.t === 'inbound' && handle !== undefined) {
      if (draining) {
        handle.destroy()
        send({ t: 'inbound', id: message.id, ok: false })
        return
      }
      serveInbound(
        {
          worker,
          limiter,
          waitUntilTimeoutMs: data.limits.waitUntilTimeoutMs,
          nextId: () => nextId++,
          reply: (id, ok) => send({ t: 'inbound', id, ok }),
          began: () => {
            live++
            const tracked = hooks?.beginConnect()
            return (summary) => {
              if (hooks && tracked) hooks.endConnect(tracked, summary)
              else {
                const from = summary.from === undefined ? '' : ` from ${summary.from}`
                logLine(
                  `[wharf:info] ${label}connect ${summary.address}${from} closed (${Math.round(summary.ms)}ms)`
                )
              }
              live--
              maybeExit(server)
            }
          },
        },
        message,
        handle
      )
    } else if (message.t === 'drain') {
      draining = true
      setTimeout(() => {
        graceOver = true
        server.closeIdleConnections()
        maybeExit(server)
      }, DRAIN_GRACE_MS)
    }
  })
  send({
    t: 'ready',
    timing: { init: Math.round(initAt), loaded: Math.round(loadedAt) },
    ...(channelOpen ? { channel: true } : {}),
  })
}

process.once('message', (message: ToRuntime) => {
  if (message.t === 'init') {
    start(message.data).catch((error: unknown) => {
      send({ t: 'loadError', message: stack(error) })
    })
  }
})
