/**
 * `WHARF_TIMING=1`: start-up and reload phases as `[wharf:timing]` lines, in milliseconds since
 * the host process started, so a slow start can be taken apart (bench/host/startup.ts reads them).
 */
import type { WorkerProcess } from './supervisor.js'

const enabled = process.env.WHARF_TIMING === '1'

export type Mark = (what: string) => void

export function timer(log: (line: string) => void): Mark {
  if (!enabled) return () => undefined
  return (what) => log(`[wharf:timing] ${Math.round(performance.now())} ms ${what}`)
}

/** The runtime's phases: spawned, its own modules loaded (relative to its start), Worker loaded. */
export function runtimePhases(mark: Mark, runtime: WorkerProcess): void {
  const t = runtime.timing
  mark(
    `runtime ready (spawned at ${Math.round(runtime.spawnedAt)} ms${t ? `; in the runtime: init ${t.init} ms, Worker loaded ${t.loaded} ms after its start` : ''})`
  )
}
