/**
 * What a `wharf serve` runtime adds to the runtime process: the heartbeat and request slots its
 * watchdog thread reads (CPU, start-up and memory limits), the subrequest denials, the periodic
 * report to the supervisor (liveness, load, statuses, latency), one log line per request (text or
 * JSON, with a request id), and the count of brokered sockets that closed (host-wide limits).
 */
import { writeSync } from 'node:fs'
import type http from 'node:http'
import type { Socket } from 'node:net'
// The real process, by import: Worker code may replace globalThis.process (unenv's polyfill does).
import process from 'node:process'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import { logLine } from '../logger.js'
import type { FromRuntime, ServeRuntimeOptions } from '../protocol.js'
import type { InboundSummary } from './inbound.js'
import { cutByOther } from './limit-pages.js'
import type { SocketLimiter } from './socket-runtime.js'

type Opener = (target: { hostname: string; port: number }, signal?: AbortSignal) => Promise<Socket>
import {
  CURRENT,
  HEADER_INTS,
  HEARTBEAT,
  MAX_SLOTS,
  MEMORY_OVER,
  PHASE,
  PHASE_SERVING,
  SLOT_INTS,
  STATE_FREE,
  STATE_RESPONDING,
  STATE_RUNNING,
  sharedSize,
  type WatchdogData,
} from './watchdog-shared.js'

const BEAT_MS = 50
/** A forced GC at most this often: a Worker near its limit must not spend its time collecting. */
const GC_EVERY_MS = 1000

/** What Workers count against the memory limit: the isolate's heap and its buffers. */
function heapAndBuffers(): number {
  const heap = getHeapStatistics()
  return heap.used_heap_size + heap.external_memory
}

/**
 * A full-GC function for the host only: made in a context of its own, so Worker code gets no
 * `gc` global (workerd has none), and without `--expose-gc`, which would put one on its global.
 */
function hostGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    return typeof gc === 'function' ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
}
/** Latency histogram bounds in seconds (Prometheus `le`), shared with the supervisor. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const MAX_DENIALS_PER_TICK = 50
/**
 * Longest a socket close waits for a dial request to carry it to the supervisor. Each report of
 * its own is an IPC write that wakes the supervisor; the host-wide slot is free this much later.
 */
const CLOSE_REPORT_MS = 10

export interface Tracked {
  readonly slot: number
  readonly id: string
  readonly started: number
}

export class ServeRuntime {
  private readonly view = new Int32Array(new SharedArrayBuffer(sharedSize()))
  private readonly free: number[] = []
  private seq = 0
  private conns = 0
  private accepted = 0
  private inflight = 0
  private connects = 0
  private statuses: Record<string, number> = {}
  private buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
  private latencySum = 0
  private denials: { rule: string; host: string; port: number }[] = []
  private subrequestDenials = 0
  private closedSockets = 0
  private closedTimer: NodeJS.Timeout | undefined
  private startupCpu: NodeJS.CpuUsage | undefined
  private limiter: SocketLimiter | undefined
  private readonly gc = hostGc()
  /** The host's own heap and buffers, before the Worker loads: not the Worker's. */
  private readonly memoryBase = heapAndBuffers()
  private lastGc = -Infinity

  constructor(
    private readonly options: ServeRuntimeOptions,
    private readonly send: (message: FromRuntime) => void
  ) {
    for (let slot = MAX_SLOTS - 1; slot >= 0; slot--) {
      this.free.push(slot)
      Atomics.store(this.view, HEADER_INTS + slot * SLOT_INTS, -1)
    }
    const data: WatchdogData = {
      shared: this.view.buffer,
      cpuMs: options.cpuMs,
      startupMs: options.startupMs,
      memoryBytes: options.memoryMb * 1048576,
    }
    const watchdog = new Worker(new URL('./watchdog-thread.js', import.meta.url), {
      workerData: data,
      // The watchdog never runs Worker code; a small heap is plenty.
      resourceLimits: { maxOldGenerationSizeMb: 16 },
    })
    watchdog.unref()
    watchdog.on('error', (error) => {
      // Without its watchdog the process must not serve: the supervisor replaces it.
      console.error('[wharf:error] the runtime watchdog failed:', error)
      process.exit(70)
    })
    let beats = 0
    setInterval(() => {
      Atomics.add(this.view, HEARTBEAT, 1)
      this.checkMemory()
      if (++beats % 2 === 0) this.tick()
    }, BEAT_MS).unref()
    // process.exit() from Worker code (or any exit) answers what is still in flight.
    process.on('exit', () => this.cutAll())
  }

  /**
   * Over the limit counts only after a full GC: garbage not yet collected is no Worker's memory
   * (V8 collects when it sees fit, not at our limit). The watchdog thread acts on MEMORY_OVER.
   */
  private checkMemory(): void {
    const limit = this.options.memoryMb * 1048576
    if (heapAndBuffers() - this.memoryBase <= limit || Atomics.load(this.view, MEMORY_OVER) > 0)
      return
    const now = performance.now()
    if (this.gc !== undefined) {
      if (now - this.lastGc < GC_EVERY_MS) return
      this.lastGc = now
      this.gc()
    }
    const used = heapAndBuffers() - this.memoryBase
    if (used > limit)
      Atomics.store(this.view, MEMORY_OVER, Math.min(Math.ceil(used / 1024), 0x7fffffff))
  }

  /** Counts connections the HTTP server is given (the supervisor balances on them). */
  attach(server: http.Server): void {
    server.on('connection', (socket: Socket) => {
      this.conns++
      this.accepted++
      socket.once('close', () => this.conns--)
    })
  }

  /** Sockets of this limiter are reported in ticks. */
  limit(limiter: SocketLimiter): void {
    this.limiter = limiter
  }

  /** A call refused by `limits.subrequests` (subrequest-limit.ts), for the metrics. */
  subrequestDenied(): void {
    this.subrequestDenials++
  }

  /**
   * Brokered sockets report their close to the supervisor (the host-wide socket count): with the
   * runtime's next dial request, so no message of their own while dials are frequent, or on
   * their own after CLOSE_REPORT_MS at the latest.
   */
  wrapDial(dial: Opener): Opener {
    return async (target, signal) => {
      const socket = await dial(target, signal)
      socket.once('close', () => {
        this.closedSockets++
        if (this.closedTimer !== undefined) return
        this.closedTimer = setTimeout(() => {
          this.closedTimer = undefined
          const n = this.takeClosed()
          if (n > 0) this.send({ t: 'closed', n })
        }, CLOSE_REPORT_MS)
        this.closedTimer.unref()
      })
      return socket
    }
  }

  /** The closes not reported yet, for a dial request to carry (the count starts again). */
  takeClosed(): number {
    const n = this.closedSockets
    this.closedSockets = 0
    return n
  }

  /** An egress denial decided in this process (unbrokered runtimes). */
  denied(rule: string, host: string, port: number): void {
    if (this.denials.length < MAX_DENIALS_PER_TICK) this.denials.push({ rule, host, port })
  }

  beginStartup(): void {
    this.startupCpu = process.cpuUsage()
  }

  /** Ends the start-up phase; returns Cloudflare's error if the global scope took too long. */
  endStartup(): string | undefined {
    const used = process.cpuUsage(this.startupCpu)
    const ms = (used.user + used.system) / 1000
    Atomics.store(this.view, PHASE, PHASE_SERVING)
    Atomics.add(this.view, HEARTBEAT, 1)
    if (ms > this.options.startupMs) {
      return `Script startup exceeded CPU time limit. (error 10021: the global scope took ${Math.round(ms)} ms of CPU, the limit is ${this.options.startupMs} ms)`
    }
    return undefined
  }

  begin(req: http.IncomingMessage, res: http.ServerResponse): Tracked {
    this.inflight++
    const slot = this.free.pop() ?? -1
    const id = `${this.options.tag}-${(++this.seq).toString(36)}`
    if (slot >= 0) {
      const base = HEADER_INTS + slot * SLOT_INTS
      const fd = (req.socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
      Atomics.store(this.view, base, typeof fd === 'number' ? fd : -1)
      Atomics.store(this.view, base + 1, STATE_RUNNING)
      // Once the head is out, the watchdog must not write a second response on this connection.
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http.ServerResponse
      res.writeHead = (...args: unknown[]) => {
        Atomics.store(this.view, base + 1, STATE_RESPONDING)
        return writeHead(...args)
      }
    }
    return { slot, id, started: performance.now() }
  }

  /**
   * A connect() handler's connection (a service binding's or `wharf.tcp`'s). It takes no
   * watchdog slot: the watchdog writes HTTP error pages, which a raw TCP peer must never get.
   * The CPU limit still holds (the watchdog stops a loop held too long, whatever holds it).
   */
  beginConnect(): { readonly id: string } {
    this.inflight++
    return { id: `${this.options.tag}-${(++this.seq).toString(36)}` }
  }

  endConnect(tracked: { readonly id: string }, summary: InboundSummary): void {
    this.inflight--
    this.connects++
    const address = summary.address.slice(0, 300)
    if (this.options.logFormat === 'json') {
      logLine(
        JSON.stringify({
          time: new Date().toISOString(),
          level: 'info',
          msg: 'connect',
          id: tracked.id,
          address,
          ...(summary.from === undefined ? {} : { from: summary.from }),
          ms: Math.round(summary.ms * 10) / 10,
        })
      )
    } else {
      const from = summary.from === undefined ? '' : ` from ${summary.from}`
      logLine(
        `[wharf:info] ${tracked.id} connect ${address}${from} closed (${Math.round(summary.ms)}ms)`
      )
    }
  }

  /** The request's handler is about to run: if the loop now sticks, it is the one. */
  enter(tracked: Tracked): void {
    Atomics.store(this.view, CURRENT, tracked.slot + 1)
  }

  end(tracked: Tracked, req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inflight--
    if (tracked.slot >= 0) {
      const base = HEADER_INTS + tracked.slot * SLOT_INTS
      Atomics.store(this.view, base + 1, STATE_FREE)
      Atomics.store(this.view, base, -1)
      Atomics.compareExchange(this.view, CURRENT, tracked.slot + 1, 0)
      this.free.push(tracked.slot)
    }
    const ms = performance.now() - tracked.started
    const status = res.writableFinished ? String(res.statusCode) : 'canceled'
    this.statuses[status] = (this.statuses[status] ?? 0) + 1
    const seconds = ms / 1000
    let i = 0
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] ?? Infinity)) i++
    this.buckets[i] = (this.buckets[i] ?? 0) + 1
    this.latencySum += seconds
    const path = (req.url ?? '/').slice(0, 512)
    if (this.options.logFormat === 'json') {
      logLine(
        JSON.stringify({
          time: new Date().toISOString(),
          level: 'info',
          msg: 'request',
          id: tracked.id,
          method: req.method ?? 'GET',
          path,
          status: res.writableFinished ? res.statusCode : null,
          canceled: !res.writableFinished,
          ms: Math.round(ms * 10) / 10,
        })
      )
    } else {
      logLine(
        `[wharf:info] ${tracked.id} ${req.method ?? 'GET'} ${path} ${res.writableFinished ? res.statusCode : 'canceled (the client disconnected)'} (${Math.round(ms)}ms)`
      )
    }
  }

  private tick(): void {
    this.send({
      t: 'tick',
      conns: this.conns,
      accepted: this.accepted,
      inflight: this.inflight,
      socketsOpen: this.limiter?.openSockets ?? 0,
      socketsQueued: this.limiter?.queuedSockets ?? 0,
      statuses: this.statuses,
      buckets: this.buckets,
      latencySum: this.latencySum,
      denials: this.denials,
      subrequestDenials: this.subrequestDenials,
      connects: this.connects,
    })
    this.connects = 0
    this.statuses = {}
    this.buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
    this.latencySum = 0
    this.denials = []
    this.subrequestDenials = 0
  }

  /** Synchronously answers every request whose response has not begun (the process is exiting). */
  private cutAll(): void {
    for (let slot = 0; slot < MAX_SLOTS; slot++) {
      const base = HEADER_INTS + slot * SLOT_INTS
      if (Atomics.load(this.view, base + 1) !== STATE_RUNNING) continue
      const fd = Atomics.load(this.view, base)
      if (fd < 0) continue
      try {
        writeSync(fd, cutByOther('exit'))
      } catch {
        // The client left.
      }
    }
  }
}
