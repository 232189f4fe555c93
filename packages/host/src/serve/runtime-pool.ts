/**
 * `wharf serve`'s runtime processes: N per version, connections balanced to the least loaded
 * live one, host-wide socket slots for their brokered dials, replacement with backoff when one
 * stops (CPU or memory limit, crash), crash-loop reporting, and versions deployed side by side
 * (the new one must start before the old one drains). A pool is one Worker's: under the
 * multi-config form each Worker has its own, and a service binding's connection goes to one of
 * the callee pool's runtimes (services/hub.ts).
 */
import type { Socket } from 'node:net'
import { constants } from 'node:os'
import { DialBroker } from '../broker.js'
import type { Passable } from '../fd-channel.js'
import { WharfRuntimeExitError, WharfStartupError } from '../errors.js'
import type { Isolation } from '../isolation.js'
import type { Sandbox } from '../sandbox.js'
import type { DialReply, FromRuntime, InboundConnection, RuntimeData } from '../protocol.js'
import { overloaded } from '../runtime/limit-pages.js'
import { WorkerProcess } from '../supervisor.js'
import type { Route } from '../tunnels.js'
import type { ServiceTarget } from '../services/hub.js'
import type { HostSockets } from './host-sockets.js'
import type { SharedSockets } from './shared-sockets.js'
import type { ServeLog } from './log.js'
import type { LiveFigures, ServeMetrics } from './metrics.js'
import type { ServeSettings } from './settings.js'

/** A runtime whose report is this late takes no new connection while another can. */
const STALL_MS = 1000
/**
 * A runtime silent this long (4x its CPU limit + 20 s: after its watchdog's own wall-clock bound)
 * is killed by the supervisor: the backstop for a watchdog that did not act.
 */
const BACKSTOP_FACTOR = 4
const BACKSTOP_MS = 20_000
const CHECK_MS = 250
/** A runtime whose watchdog said why it stops, still alive this long after, is killed from here. */
const REASON_GRACE_MS = 1000
const CRASH_WINDOW_MS = 60_000
const CRASH_LOOP = 5
const MAX_BACKOFF_MS = 10_000
/** Spawning node (and the namespace) is not the Worker's start-up: this much on top of its limit. */
const SPAWN_ALLOWANCE_MS = 60_000

type State = 'starting' | 'ready' | 'draining' | 'gone'

/** bubblewrap reports a signal that ended Node as exit code 128 + the signal's number. */
function signalOf(code: number | null, sandbox: Sandbox): NodeJS.Signals | null {
  if (sandbox.kind !== 'bwrap' || code === null || code <= 128) return null
  const found = Object.entries(constants.signals).find(([, n]) => n === code - 128)
  return found === undefined ? null : (found[0] as NodeJS.Signals)
}

interface Runtime {
  readonly id: number
  readonly version: number
  readonly proc: WorkerProcess
  state: State
  /** Open connections as of the last report, plus those handed over since. */
  conns: number
  handed: number
  inflight: number
  lastTick: number
  socketsOpen: number
  socketsQueued: number
  /** Why the supervisor itself stopped it, if it did. */
  stoppedBy?: string
  /** When the supervisor first saw its watchdog's reason. */
  reasonSeen?: number
}

interface Queued {
  readonly socket: Socket
  readonly timer: NodeJS.Timeout
  /** A service binding's fetch() connection (and its entrypoint), not the listener's. */
  readonly service?: { readonly entrypoint?: string }
}

/** A connect() handler's connection waiting for a runtime (all restarting or busy starting). */
interface InboundWaiter {
  readonly take: (rt: Runtime) => void
}

/** Runtime ids are the host's, not the pool's: host-wide socket slots are held by id. */
let nextRuntimeId = 1

export interface PoolOptions {
  readonly isolation: Isolation
  readonly sandbox: Sandbox
  readonly settings: ServeSettings
  readonly metrics: ServeMetrics
  readonly hostSockets: HostSockets
  /** The Worker's limit across hosts, when configured; closed with the pool. */
  readonly sharedSockets?: SharedSockets
  readonly log: ServeLog
  /** The Worker's name on log lines, for a pool other than the primary's. */
  readonly name?: string
}

export class RuntimePool implements ServiceTarget {
  /** The tunnel edge's routes for `vpc_*` bindings, set once the edge is up (before deploys). */
  tunnelRoutes: ReadonlyMap<string, Route> | undefined
  /** The routes of the Worker's service bindings and Outbound Worker (services/hub.ts). */
  serviceRoutes: ReadonlyMap<string, Route> | undefined
  private readonly runtimes = new Set<Runtime>()
  private current: RuntimeData | undefined
  private version = 0
  private broker: DialBroker | undefined
  private readonly queue: Queued[] = []
  private readonly inboundQueue: InboundWaiter[] = []
  private readonly crashes: number[] = []
  private lastLoopReport = 0
  private closing = false
  private readonly checker: NodeJS.Timeout

  constructor(private readonly options: PoolOptions) {
    this.checker = setInterval(() => this.check(), CHECK_MS)
    this.checker.unref()
  }

  /**
   * Starts a version: all its processes must become ready, or none serves and it is refused.
   * Resolves once the new version serves, with the old version's drain (bounded) still going.
   */
  async deploy(data: RuntimeData): Promise<{ drained: Promise<void> }> {
    const version = this.version + 1
    if (this.options.sharedSockets !== undefined && this.version === 0 && !this.brokered()) {
      this.options.log(
        'warn',
        `${this.options.name ?? 'the Worker'}: wharf.serve.shared_sockets applies to brokered connections only; with isolation "none" the runtimes dial themselves and only the host's own limits hold`
      )
    }
    await this.options.sharedSockets?.start()
    const broker = this.makeBroker(data)
    const fresh = Array.from({ length: this.options.settings.processes }, () =>
      this.spawn(data, version, broker)
    )
    const results = await Promise.allSettled(fresh.map((rt) => this.started(rt)))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed !== undefined || this.closing) {
      await Promise.all(fresh.map((rt) => this.stop(rt, 'refused')))
      throw failed?.status === 'rejected' ? failed.reason : new Error('the host is shutting down')
    }
    const old = [...this.runtimes].filter((rt) => rt.version !== version)
    this.version = version
    this.current = data
    this.broker = broker
    this.flush()
    return { drained: Promise.all(old.map((rt) => this.retire(rt))).then(() => undefined) }
  }

  get servingVersion(): number {
    return this.version
  }

  /** Gives an accepted (paused) connection to the least loaded live runtime, or queues it. */
  handOff(socket: Socket, service?: { readonly entrypoint?: string }): void {
    // A runtime that exited a moment ago may still look live: try the next one.
    for (let attempt = 0; attempt < 3; attempt++) {
      const rt = this.pick()
      if (rt === undefined) break
      rt.conns++
      rt.handed++
      const handed =
        service === undefined
          ? rt.proc.tryHandOff(socket)
          : rt.proc.handOffService(socket, service.entrypoint)
      if (handed) return
      rt.state = 'draining'
    }
    if (this.closing || this.queue.length >= this.options.settings.maxQueuedConnections) {
      this.refuse(socket, 0)
      return
    }
    const waitMs = this.options.settings.connectionQueueMs
    const entry: Queued = {
      socket,
      timer: setTimeout(() => {
        this.unqueue(entry)
        this.refuse(socket, waitMs)
      }, waitMs),
      ...(service === undefined ? {} : { service }),
    }
    socket.once('close', () => this.unqueue(entry))
    socket.on('error', () => undefined)
    this.queue.push(entry)
  }

  /**
   * A service binding's fetch() connection: like the listener's, balanced or queued (a 503 page
   * when no runtime comes in time, which the caller's fetch() sees as the response).
   */
  handOffService(socket: Socket, entrypoint: string | undefined): boolean {
    this.handOff(socket, entrypoint === undefined ? {} : { entrypoint })
    return true
  }

  /**
   * A connection for the connect() handler of one of the live runtimes; while none is (all
   * restarting), it waits for one until `signal` fires.
   */
  async inbound(
    socket: Socket,
    info: Omit<InboundConnection, 't' | 'id'>,
    signal: AbortSignal
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const rt = this.pick() ?? (await this.waitForRuntime(signal))
      rt.inflight++
      try {
        return await rt.proc.inbound(socket, info, signal)
      } catch (error) {
        // Gone before it took the connection: the socket is untouched only if it never left.
        if (!(error instanceof WharfRuntimeExitError) || socket.destroyed) throw error
        rt.state = 'draining'
      }
    }
    socket.destroy()
    throw new Error(`${this.options.name ?? 'the Worker'}: its runtimes keep exiting`)
  }

  private waitForRuntime(signal: AbortSignal): Promise<Runtime> {
    if (this.closing) return Promise.reject(new Error('the host is shutting down'))
    if (this.inboundQueue.length >= this.options.settings.maxQueuedConnections) {
      return Promise.reject(new Error('too many connections are waiting for a runtime'))
    }
    return new Promise<Runtime>((resolve, reject) => {
      const waiter: InboundWaiter = {
        take: (rt) => {
          signal.removeEventListener('abort', onAbort)
          resolve(rt)
        },
      }
      const onAbort = (): void => {
        const i = this.inboundQueue.indexOf(waiter)
        if (i >= 0) this.inboundQueue.splice(i, 1)
        reject(new Error('no runtime of the Worker was ready in time'))
      }
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.inboundQueue.push(waiter)
    })
  }

  live(): LiveFigures {
    let ready = 0
    let starting = 0
    let draining = 0
    let queued =
      this.options.hostSockets.queuedSockets + (this.options.sharedSockets?.queuedSockets ?? 0)
    for (const rt of this.runtimes) {
      if (rt.state === 'ready') ready++
      else if (rt.state === 'starting') starting++
      else if (rt.state === 'draining') draining++
      queued += rt.socketsQueued
    }
    return {
      runtimesReady: ready,
      runtimesStarting: starting,
      runtimesDraining: draining,
      connectionsQueued: this.queue.length,
      socketsOpen: this.brokered()
        ? this.options.hostSockets.openSockets
        : [...this.runtimes].reduce((n, rt) => n + rt.socketsOpen, 0),
      socketsQueued: queued,
      crashLoop:
        this.crashes.filter((t) => t > performance.now() - CRASH_WINDOW_MS).length >= CRASH_LOOP,
      version: this.version,
    }
  }

  /** Ready to serve: a version is deployed and at least one of its processes is live. */
  ready(): boolean {
    return !this.closing && this.pick() !== undefined
  }

  /** Drains every runtime (bounded) and stops. Queued connections get a 503. */
  async close(): Promise<void> {
    this.closing = true
    clearInterval(this.checker)
    for (const entry of this.queue.splice(0)) {
      clearTimeout(entry.timer)
      this.refuse(entry.socket, 0)
    }
    // Their signals (the connect timeout) end their waits.
    this.inboundQueue.length = 0
    await Promise.all([...this.runtimes].map((rt) => this.retire(rt)))
    await this.options.sharedSockets?.close()
  }

  private brokered(): boolean {
    return this.options.isolation.kind === 'netns'
  }

  private routes(): ReadonlyMap<string, Route> | undefined {
    if (this.serviceRoutes === undefined) return this.tunnelRoutes
    return new Map([...(this.tunnelRoutes ?? []), ...this.serviceRoutes])
  }

  /** The Worker's name before a line about it, for a pool other than the primary's. */
  private get who(): string {
    return this.options.name === undefined ? '' : `${this.options.name}: `
  }

  private makeBroker(data: RuntimeData): DialBroker {
    const { metrics, log } = this.options
    return DialBroker.forRuntime(data, this.routes(), (hostname, port, decision) => {
      if (decision.allowed) return
      metrics.denied(decision.rule, hostname, port)
      log(
        'warn',
        `${this.who}egress denied ${hostname}:${port} by ${decision.rule}: ${decision.reason}`,
        {
          event: 'egress_denied',
          rule: decision.rule,
        }
      )
    })
  }

  private spawn(data: RuntimeData, version: number, broker: DialBroker): Runtime {
    const id = nextRuntimeId++
    const { settings } = this.options
    const runtimeData: RuntimeData = {
      ...data,
      serve: {
        cpuMs: settings.cpuMs,
        memoryMb: settings.memoryMb,
        startupMs: settings.startupMs,
        subrequests: settings.subrequests,
        logFormat: data.serve?.logFormat ?? 'text',
        // A Worker other than the primary names itself in its request ids.
        tag: `${this.options.name === undefined ? '' : `${this.options.name}/`}${version}.${id}`,
      },
    }
    const ref: { rt?: Runtime } = {}
    const proc = new WorkerProcess(
      runtimeData,
      this.options.isolation,
      this.options.sandbox,
      // Unbrokered, the process's own broker answers the route dials (tunnels, services).
      this.routes(),
      {
        // V8's own heap ceiling is the backstop; the watchdog recycles at the memory limit first.
        execArgv: [`--max-old-space-size=${settings.memoryMb * 2 + 64}`],
        reasonPipe: true,
        ...(this.brokered()
          ? {
              dial: (message: unknown, reply: (answer: DialReply, socket?: Passable) => void) => {
                if (ref.rt) this.dial(ref.rt, broker, message, reply)
              },
            }
          : {}),
        onMessage: (message: FromRuntime) => {
          if (ref.rt) this.onMessage(ref.rt, message)
        },
      }
    )
    const rt: Runtime = {
      id,
      version,
      proc,
      state: 'starting',
      conns: 0,
      handed: 0,
      inflight: 0,
      lastTick: performance.now(),
      socketsOpen: 0,
      socketsQueued: 0,
    }
    ref.rt = rt
    this.runtimes.add(rt)
    void proc.exit.then((code) => this.exited(rt, code))
    return rt
  }

  /** Resolves when the runtime is ready; rejects (and stops it) when it fails to start in time. */
  private async started(rt: Runtime): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const limit = this.options.settings.startupMs + SPAWN_ALLOWANCE_MS
    try {
      await Promise.race([
        rt.proc.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new WharfStartupError(`the runtime process was not ready within ${limit} ms`)),
            limit
          )
        }),
      ])
    } catch (error) {
      // The watchdog's reason (e.g. a global scope stuck in a loop) says more than "exited".
      rt.state = 'draining'
      await rt.proc.terminate()
      const reason = rt.proc.reason.trim()
      if (reason.startsWith('startup')) {
        throw new WharfStartupError(`Script startup exceeded CPU time limit. (${reason})`)
      }
      throw error
    } finally {
      clearTimeout(timer)
    }
    rt.state = 'ready'
    rt.lastTick = performance.now()
  }

  private dial(
    rt: Runtime,
    broker: DialBroker,
    message: unknown,
    reply: (answer: DialReply, socket?: Passable) => void
  ): void {
    const { metrics } = this.options
    const id = (message as { id?: unknown } | null)?.id
    // Closes the runtime reports with its dial free their slots first (release() caps the count).
    const closed = (message as { closed?: unknown } | null)?.closed
    if (Number.isInteger(closed)) this.releaseSlots(rt.id, closed as number)
    this.acquireSlot(rt.id).then(
      () =>
        broker.handle(message, (answer, socket) => {
          if (answer.ok && socket) {
            metrics.dialed('ok')
            if (rt.state === 'gone') {
              this.releaseSlots(rt.id, 1)
              socket.destroy()
              return
            }
          } else {
            this.releaseSlots(rt.id, 1)
            metrics.dialed(
              answer.reason?.startsWith('egress denied') === true
                ? 'denied'
                : answer.reason === 'malformed dial request'
                  ? 'malformed'
                  : 'failed'
            )
          }
          reply(answer, socket)
        }),
      (error: Error) => {
        metrics.dialed('limited')
        if (Number.isInteger(id))
          reply({ t: 'dialed', id: id as number, ok: false, reason: error.message })
      }
    )
  }

  /** A host-wide slot, then (when configured) one of the Worker's slots across hosts. */
  private async acquireSlot(owner: number): Promise<void> {
    const { hostSockets, sharedSockets } = this.options
    await hostSockets.acquire(owner)
    if (sharedSockets === undefined) return
    try {
      await sharedSockets.acquire(owner)
    } catch (error) {
      hostSockets.release(owner)
      throw error
    }
  }

  private releaseSlots(owner: number, n: number): void {
    this.options.hostSockets.release(owner, n)
    this.options.sharedSockets?.release(owner, n)
  }

  private onMessage(rt: Runtime, message: FromRuntime): void {
    if (message.t === 'tick') {
      const tick = message
      const wasStalled = this.stalled(rt)
      rt.lastTick = performance.now()
      // A report can predate connections handed over since: those still count.
      const accepted = Number.isInteger(tick.accepted) ? tick.accepted : rt.handed
      const onTheirWay = Math.max(0, Math.min(rt.handed - accepted, rt.handed))
      rt.conns = (Number.isInteger(tick.conns) ? Math.max(0, tick.conns) : rt.conns) + onTheirWay
      rt.inflight = Number.isInteger(tick.inflight) ? Math.max(0, tick.inflight) : rt.inflight
      rt.socketsOpen = Number.isInteger(tick.socketsOpen) ? Math.max(0, tick.socketsOpen) : 0
      rt.socketsQueued = Number.isInteger(tick.socketsQueued) ? Math.max(0, tick.socketsQueued) : 0
      this.options.metrics.addTick(tick)
      if (wasStalled) this.flush()
    } else if (message.t === 'closed') {
      if (Number.isInteger(message.n)) this.releaseSlots(rt.id, message.n)
    }
  }

  private stalled(rt: Runtime): boolean {
    return performance.now() - rt.lastTick > STALL_MS
  }

  private pick(): Runtime | undefined {
    let best: Runtime | undefined
    for (const rt of this.runtimes) {
      // A runtime whose watchdog has spoken is about to die: never hand it a connection.
      if (rt.state !== 'ready' || rt.version !== this.version || rt.proc.reason !== '') continue
      if (this.stalled(rt)) continue
      if (
        best === undefined ||
        rt.conns < best.conns ||
        (rt.conns === best.conns && rt.inflight < best.inflight)
      )
        best = rt
    }
    return best
  }

  private flush(): void {
    while (this.inboundQueue.length > 0) {
      const rt = this.pick()
      if (rt === undefined) return
      this.inboundQueue.shift()?.take(rt)
    }
    while (this.queue.length > 0) {
      if (this.pick() === undefined) return
      const entry = this.queue.shift()
      if (entry === undefined) return
      clearTimeout(entry.timer)
      this.handOff(entry.socket, entry.service)
    }
  }

  private unqueue(entry: Queued): void {
    const i = this.queue.indexOf(entry)
    if (i >= 0) {
      this.queue.splice(i, 1)
      clearTimeout(entry.timer)
    }
  }

  private refuse(socket: Socket, waitedMs: number): void {
    this.options.metrics.connectionsRefused++
    socket.on('error', () => undefined)
    socket.end(overloaded(waitedMs))
    setTimeout(() => socket.destroy(), 1000).unref()
  }

  /** The watchdog's backstop: a runtime silent far past the CPU limit is killed from here. */
  private check(): void {
    const limit = this.options.settings.cpuMs * BACKSTOP_FACTOR + BACKSTOP_MS
    const now = performance.now()
    for (const rt of this.runtimes) {
      if (rt.state === 'ready' && now - rt.lastTick > limit) {
        rt.stoppedBy = `silent for ${limit} ms (its watchdog did not act)`
        void rt.proc.terminate()
      }
      // The watchdog kills its own process right after writing its reason; should that kill not
      // land (a sandbox's PID 1 cannot signal itself), the supervisor's does.
      if (rt.proc.reason !== '' && rt.state !== 'gone') {
        rt.reasonSeen ??= now
        if (now - rt.reasonSeen > REASON_GRACE_MS) rt.proc.kill()
      }
    }
  }

  private async retire(rt: Runtime): Promise<void> {
    if (rt.state === 'gone') return
    rt.state = 'draining'
    await rt.proc.drain(this.options.settings.drainMs)
  }

  private async stop(rt: Runtime, why: string): Promise<void> {
    rt.stoppedBy = why
    rt.state = 'draining'
    await rt.proc.terminate()
  }

  private exited(rt: Runtime, code: number | null): void {
    const previous = rt.state
    rt.state = 'gone'
    this.runtimes.delete(rt)
    this.options.hostSockets.releaseAll(rt.id)
    this.options.sharedSockets?.releaseAll(rt.id)
    if (previous === 'draining' || previous === 'starting' || this.closing) return
    const signal = rt.proc.exitSignal ?? signalOf(code, this.options.sandbox)
    const said = rt.proc.reason.trim()
    const kind = said.startsWith('cpu')
      ? 'cpu'
      : said.startsWith('memory') || signal === 'SIGABRT' || code === 134
        ? 'memory'
        : rt.stoppedBy !== undefined
          ? 'stuck'
          : 'crash'
    const detail =
      said !== ''
        ? said
        : kind === 'memory'
          ? `V8's heap limit (${this.options.settings.memoryMb * 2 + 64} MB) was reached`
          : (rt.stoppedBy ?? `exited (${signal ?? `code ${code}`})`)
    this.options.metrics.killed(kind)
    this.options.log(
      'error',
      `${this.who}runtime ${rt.version}.${rt.id} (pid ${rt.proc.pid ?? '?'}) stopped: ${kind}: ${detail}`,
      { event: 'runtime_stopped', reason: kind }
    )
    if (rt.version === this.version) this.restartLater(rt.version)
  }

  /** Starts a replacement after a back-off that grows with the stops of the last minute. */
  private restartLater(version: number): void {
    const now = performance.now()
    this.crashes.push(now)
    while ((this.crashes[0] ?? now) < now - CRASH_WINDOW_MS) this.crashes.shift()
    const k = this.crashes.length
    const delay = k <= 1 ? 0 : Math.min(250 * 2 ** (k - 2), MAX_BACKOFF_MS)
    if (k >= CRASH_LOOP && now - this.lastLoopReport > CRASH_WINDOW_MS / 4) {
      this.lastLoopReport = now
      this.options.log(
        'error',
        `${this.who}crash loop: ${k} runtime processes stopped in the last ${CRASH_WINDOW_MS / 1000} s; restarts back off up to ${MAX_BACKOFF_MS} ms`,
        { event: 'crash_loop' }
      )
    }
    setTimeout(() => this.replace(version), delay).unref()
  }

  private replace(version: number): void {
    const data = this.current
    const broker = this.broker
    if (this.closing || version !== this.version || !data || !broker) return
    const rt = this.spawn(data, version, broker)
    this.started(rt).then(
      () => this.flush(),
      (error: unknown) => {
        this.options.log(
          'error',
          `${this.who}a replacement runtime failed to start: ${(error as Error).message}`,
          { event: 'runtime_start_failed' }
        )
        this.options.metrics.killed('startup')
        this.restartLater(version)
      }
    )
  }
}
