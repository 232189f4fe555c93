/**
 * `wharf serve`'s figures, summed over every runtime process: requests by status, the latency
 * histogram, limit kills and restarts, sockets, egress denials by rule, broker dials, tunnel flows, and the
 * in-process poolers' figures per hyperdrive binding. Rendered as Prometheus text and as JSON
 * for the operator page.
 */
import type { PoolMetrics } from '@wharf/pool'
import type { RuntimeTick } from '../protocol.js'
import { LATENCY_BUCKETS } from '../runtime/serve-runtime.js'

const MAX_LABELS = 200
const RECENT_DENIALS = 50

export interface Denial {
  readonly time: string
  readonly rule: string
  readonly host: string
  readonly port: number
  readonly worker: string
}

export interface LiveFigures {
  readonly runtimesReady: number
  readonly runtimesStarting: number
  readonly runtimesDraining: number
  readonly connectionsQueued: number
  readonly socketsOpen: number
  readonly socketsQueued: number
  readonly crashLoop: boolean
  readonly version: number
}

function label(value: string): string {
  return JSON.stringify(value.slice(0, 200))
}

export class ServeMetrics {
  readonly statuses = new Map<string, number>()
  readonly buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
  latencySum = 0
  latencyCount = 0
  readonly kills = new Map<string, number>()
  readonly denialsByRule = new Map<string, number>()
  readonly recentDenials: Denial[] = []
  readonly dials = new Map<string, number>()
  /** Tunnel flows by tunnel and outcome (opened, denied by the connector's rules, failed). */
  readonly tunnelFlows = new Map<string, number>()
  subrequestDenials = 0
  /** Connections served by a connect() handler (service bindings, `wharf.tcp`). */
  connects = 0
  connectionsRefused = 0
  reloads = 0
  reloadsRefused = 0

  constructor(private readonly worker: string) {}

  private bump(map: Map<string, number>, key: string, n = 1): void {
    if (!map.has(key) && map.size >= MAX_LABELS) key = 'other'
    map.set(key, (map.get(key) ?? 0) + n)
  }

  /** A runtime's report; every figure in it is checked (the runtime is not trusted). */
  addTick(tick: RuntimeTick): void {
    const count = (v: unknown): number =>
      typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.min(v, 1e9) : 0
    if (typeof tick.statuses === 'object' && tick.statuses !== null) {
      for (const [status, n] of Object.entries(tick.statuses).slice(0, 50)) {
        if (/^(\d{3}|canceled)$/.test(status)) this.bump(this.statuses, status, count(n))
      }
    }
    if (Array.isArray(tick.buckets)) {
      tick.buckets.slice(0, this.buckets.length).forEach((n, i) => {
        this.buckets[i] = (this.buckets[i] ?? 0) + count(n)
        this.latencyCount += count(n)
      })
    }
    this.latencySum += count(tick.latencySum)
    this.subrequestDenials += count(tick.subrequestDenials)
    this.connects += count(tick.connects)
    const denials: unknown = tick.denials
    if (Array.isArray(denials)) {
      for (const entry of denials.slice(0, 50) as unknown[]) {
        const d = entry as Partial<{ rule: unknown; host: unknown; port: unknown }> | null
        if (typeof d?.rule === 'string' && typeof d.host === 'string' && typeof d.port === 'number')
          this.denied(d.rule, d.host, d.port)
      }
    }
  }

  denied(rule: string, host: string, port: number): void {
    this.bump(this.denialsByRule, rule)
    this.recentDenials.unshift({
      time: new Date().toISOString(),
      rule: rule.slice(0, 200),
      host: host.slice(0, 300),
      port,
      worker: this.worker,
    })
    this.recentDenials.length = Math.min(this.recentDenials.length, RECENT_DENIALS)
  }

  tunnelFlow(tunnel: string, outcome: 'opened' | 'denied' | 'failed'): void {
    this.bump(this.tunnelFlows, `${tunnel}\0${outcome}`)
  }

  killed(reason: string): void {
    this.bump(this.kills, reason)
  }

  dialed(outcome: 'ok' | 'denied' | 'failed' | 'malformed' | 'limited'): void {
    this.bump(this.dials, outcome)
  }

  prometheus(
    live: LiveFigures,
    pools: readonly { binding: string; metrics: PoolMetrics }[],
    workers: readonly { name: string; metrics: ServeMetrics; live: LiveFigures }[] = []
  ): string {
    const out: string[] = []
    const head = (name: string, help: string, type: string): void => {
      out.push(`# HELP wharf_${name} ${help}`, `# TYPE wharf_${name} ${type}`)
    }
    const series = (
      name: string,
      help: string,
      type: string,
      key: string,
      map: Map<string, number>
    ): void => {
      head(name, help, type)
      for (const [k, v] of map) out.push(`wharf_${name}{${key}=${label(k)}} ${v}`)
    }
    series(
      'requests_total',
      'Responses by HTTP status (canceled: the client left)',
      'counter',
      'status',
      this.statuses
    )
    head('request_duration_seconds', 'Time from request to the end of the response', 'histogram')
    let cumulative = 0
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += this.buckets[i] ?? 0
      out.push(`wharf_request_duration_seconds_bucket{le="${le}"} ${cumulative}`)
    })
    out.push(`wharf_request_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`)
    out.push(`wharf_request_duration_seconds_sum ${this.latencySum}`)
    out.push(`wharf_request_duration_seconds_count ${this.latencyCount}`)
    series(
      'runtime_stops_total',
      'Runtime processes stopped, by reason (cpu, memory, startup, crash)',
      'counter',
      'reason',
      this.kills
    )
    head(
      'cpu_limit_kills_total',
      'Runtime processes stopped for a request past limits.cpu_ms',
      'counter'
    )
    out.push(`wharf_cpu_limit_kills_total ${this.kills.get('cpu') ?? 0}`)
    const gauge = (name: string, help: string, value: number): void => {
      head(name, help, 'gauge')
      out.push(`wharf_${name} ${value}`)
    }
    const counter = (name: string, help: string, value: number): void => {
      head(name, help, 'counter')
      out.push(`wharf_${name} ${value}`)
    }
    gauge('sockets_open', 'Worker sockets open in the whole host', live.socketsOpen)
    gauge('sockets_queued', 'Worker connect() calls waiting for a slot', live.socketsQueued)
    gauge('connections_queued', 'HTTP connections waiting for a runtime', live.connectionsQueued)
    counter(
      'connections_refused_total',
      'HTTP connections answered 503: no runtime in time',
      this.connectionsRefused
    )
    series(
      'egress_denials_total',
      'Outbound connections denied, by rule',
      'counter',
      'rule',
      this.denialsByRule
    )
    series(
      'broker_dials_total',
      'Dial requests the broker answered, by outcome',
      'counter',
      'outcome',
      this.dials
    )
    head('tunnel_flows_total', 'Flows through a tunnel (vpc_* bindings), by outcome', 'counter')
    for (const [key, v] of this.tunnelFlows) {
      const [tunnel = '', outcome = ''] = key.split('\0')
      out.push(`wharf_tunnel_flows_total{tunnel=${label(tunnel)},outcome=${label(outcome)}} ${v}`)
    }
    counter(
      'subrequest_limit_total',
      'fetch()/connect() calls refused by limits.subrequests',
      this.subrequestDenials
    )
    head('runtimes', 'Runtime processes by state', 'gauge')
    out.push(`wharf_runtimes{state="ready"} ${live.runtimesReady}`)
    out.push(`wharf_runtimes{state="starting"} ${live.runtimesStarting}`)
    out.push(`wharf_runtimes{state="draining"} ${live.runtimesDraining}`)
    gauge(
      'crash_loop',
      '1 while runtime processes keep crashing (restarts backed off)',
      live.crashLoop ? 1 : 0
    )
    counter('reloads_total', 'Versions deployed (SIGHUP)', this.reloads)
    counter(
      'reloads_refused_total',
      'New versions refused (the old one kept serving)',
      this.reloadsRefused
    )
    gauge('version', 'The serving version (1 at start, +1 per deploy)', live.version)
    const pool = (
      name: string,
      help: string,
      type: string,
      value: (m: PoolMetrics) => number
    ): void => {
      head(`hyperdrive_${name}`, help, type)
      for (const p of pools)
        out.push(`wharf_hyperdrive_${name}{binding=${label(p.binding)}} ${value(p.metrics)}`)
    }
    pool('clients', 'Pooler: connected clients', 'gauge', (m) => m.clients)
    pool(
      'origin_connections',
      'Pooler: origin connections open',
      'gauge',
      (m) => m.originConnections
    )
    pool('origin_idle', 'Pooler: idle origin connections', 'gauge', (m) => m.originIdle)
    pool(
      'waiting_clients',
      'Pooler: clients waiting for an origin connection',
      'gauge',
      (m) => m.waitingClients
    )
    pool('leases_total', 'Pooler: transactions served', 'counter', (m) => m.leases)
    pool(
      'acquire_timeouts_total',
      'Pooler: clients that waited too long',
      'counter',
      (m) => m.acquireTimeouts
    )
    pool('cache_hits_total', 'Pooler: query cache hits', 'counter', (m) => m.cache.hits)
    pool('cache_misses_total', 'Pooler: query cache misses', 'counter', (m) => m.cache.misses)
    counter(
      'connects_total',
      'Connections served by a connect() handler (service bindings, wharf.tcp)',
      this.connects
    )
    // The host's other Workers (-c), each on its own runtimes, labelled by name.
    const perWorker = (
      name: string,
      help: string,
      type: string,
      rows: (w: (typeof workers)[number]) => [string, number][]
    ): void => {
      head(`worker_${name}`, help, type)
      for (const w of workers) {
        for (const [extra, v] of rows(w))
          out.push(`wharf_worker_${name}{worker=${label(w.name)}${extra}} ${v}`)
      }
    }
    if (workers.length > 0) {
      perWorker('requests_total', 'Responses of another Worker by HTTP status', 'counter', (w) =>
        [...w.metrics.statuses].map(([k, v]) => [`,status=${label(k)}`, v])
      )
      perWorker('connects_total', 'Connections its connect() handler served', 'counter', (w) => [
        ['', w.metrics.connects],
      ])
      perWorker('runtime_stops_total', 'Its runtime processes stopped, by reason', 'counter', (w) =>
        [...w.metrics.kills].map(([k, v]) => [`,reason=${label(k)}`, v])
      )
      perWorker('runtimes', 'Its runtime processes by state', 'gauge', (w) => [
        [',state="ready"', w.live.runtimesReady],
        [',state="starting"', w.live.runtimesStarting],
        [',state="draining"', w.live.runtimesDraining],
      ])
    }
    return out.join('\n') + '\n'
  }

  snapshot(live: LiveFigures): Record<string, unknown> {
    return {
      live,
      requests: Object.fromEntries(this.statuses),
      latency: { count: this.latencyCount, sumSeconds: this.latencySum },
      stops: Object.fromEntries(this.kills),
      dials: Object.fromEntries(this.dials),
      denialsByRule: Object.fromEntries(this.denialsByRule),
      recentDenials: this.recentDenials,
      subrequestDenials: this.subrequestDenials,
      connects: this.connects,
      reloads: this.reloads,
      reloadsRefused: this.reloadsRefused,
    }
  }
}
