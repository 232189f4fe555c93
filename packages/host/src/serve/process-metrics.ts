/**
 * The supervisor's own health as Prometheus gauges under the usual client-library names: resident
 * memory, V8 heap, open file descriptors and event-loop delay. A leak or a blocked loop in the
 * process every request passes through shows here first (the soak in bench/soak reads them).
 */
import { readdirSync } from 'node:fs'
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

export class ProcessMetrics {
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 })

  constructor() {
    this.delay.enable()
  }

  /** Descriptors open now; -1 where /proc is not there to count them. */
  private static openFds(): number {
    try {
      return readdirSync('/proc/self/fd').length
    } catch {
      return -1
    }
  }

  /** The gauges; the event-loop figures cover the time since the previous call. */
  prometheus(): string {
    const memory = process.memoryUsage()
    const p99 = this.delay.percentile(99) / 1e9
    const max = this.delay.max / 1e9
    this.delay.reset()
    const lines: string[] = []
    const gauge = (name: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`)
    }
    gauge('process_resident_memory_bytes', 'Supervisor resident memory', memory.rss)
    gauge('nodejs_heap_size_used_bytes', 'Supervisor V8 heap in use', memory.heapUsed)
    gauge('process_open_fds', 'Supervisor open file descriptors', ProcessMetrics.openFds())
    gauge(
      'nodejs_eventloop_delay_p99_seconds',
      'Supervisor event-loop delay, 99th percentile since the previous scrape',
      Number.isFinite(p99) ? p99 : 0
    )
    gauge(
      'nodejs_eventloop_delay_max_seconds',
      'Supervisor event-loop delay, largest since the previous scrape',
      Number.isFinite(max) ? max : 0
    )
    return lines.join('\n') + '\n'
  }

  close(): void {
    this.delay.disable()
  }
}
