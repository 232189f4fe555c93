// Orchestrates the suite: one workerd process, fresh loopback servers per scenario and runtime,
// scenarios run concurrently in small batches, traces normalised and compared.
import { testPki } from '../../test-support/certs.js'
import { loadDifferences, type Difference } from './differences.js'
import { runInNode } from './node-runner.js'
import { normalize } from './normalize.js'
import { registry, startControlServer, startServer, viewOf, type RunningServer } from './servers.js'
import type { RunResult, Scenario, TraceEntry } from './types.js'
import { startWorkerd, workerdVersion, COMPATIBILITY_DATE } from './workerd.js'

/** `stale`: documented, but the scenario now matches. `changed`: documented, but the observed
 * difference is not the recorded one (or a side threw or timed out). Both fail, like `mismatch`. */
export type Status = 'match' | 'documented' | 'mismatch' | 'stale' | 'changed'

export interface Outcome {
  scenario: Scenario
  workerd: RunResult
  wharf: RunResult
  expected: TraceEntry[]
  actual: TraceEntry[]
  status: Status
  difference?: Difference
  /** The differing trace lines, as DIFFERENCES.md records them. */
  lines: string[]
}

export interface SuiteResult {
  outcomes: Outcome[]
  ms: number
  workerd: { pinned: string; installed: string; compatibilityDate: string }
  /** Documented differences whose scenario now matches (the entry can be removed). */
  staleDifferences: string[]
  unknownDifferences: string[]
}

async function startServers(s: Scenario): Promise<{
  map: Record<string, { authority: string; port: number }>
  live: Map<string, RunningServer>
}> {
  const live = new Map<string, RunningServer>()
  const map: Record<string, { authority: string; port: number }> = {}
  try {
    for (const [name, spec] of Object.entries(s.servers ?? {})) {
      const server = await startServer(spec, testPki)
      live.set(name, server)
      registry.set(server.port, server)
      map[name] = { authority: server.authority, port: server.port }
    }
  } catch (e) {
    await stopServers(live)
    throw e
  }
  return { map, live }
}

async function stopServers(live: Map<string, RunningServer>): Promise<void> {
  for (const server of live.values()) {
    registry.delete(server.port)
    await server.close()
  }
}

function same(a: TraceEntry[], b: TraceEntry[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

const fmtEntry = (e: TraceEntry): string =>
  e.value === undefined ? e.event : `${e.event} ${JSON.stringify(e.value)}`

/** The lines where two traces differ, position by position: `- workerd: …` / `+ wharf:   …`. */
export function differingLines(expected: TraceEntry[], actual: TraceEntry[]): string[] {
  const lines: string[] = []
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    const a = expected[i]
    const b = actual[i]
    const x = a ? fmtEntry(a) : '<none>'
    const y = b ? fmtEntry(b) : '<none>'
    if (x !== y) lines.push(`- workerd: ${x}`, `+ wharf:   ${y}`)
  }
  return lines
}

/** A run that did not finish its scenario: harness failure, throw or timeout. */
function broken(r: RunResult): string | undefined {
  if (r.failure !== undefined) return `failed: ${r.failure}`
  if (r.trace.some((e) => e.event === 'scenario-timeout')) return 'timed out'
  if (r.trace.some((e) => e.event === 'scenario-threw')) return 'threw'
  return undefined
}

export function statusOf(
  difference: Pick<Difference, 'lines'> | undefined,
  equal: boolean,
  lines: string[],
  runs: RunResult[]
): Status {
  if (!difference) return equal ? 'match' : 'mismatch'
  if (equal) return 'stale'
  if (runs.some((r) => broken(r) !== undefined)) return 'changed'
  return JSON.stringify(lines) === JSON.stringify(difference.lines) ? 'documented' : 'changed'
}

export async function runSuite(
  scenarios: readonly Scenario[],
  options: { concurrency?: number; onOutcome?: (o: Outcome) => void } = {}
): Promise<SuiteResult> {
  const started = performance.now()
  const ids = new Set<string>()
  for (const s of scenarios) {
    if (ids.has(s.id)) throw new Error(`duplicate scenario id ${s.id}`)
    ids.add(s.id)
  }
  const differences = loadDifferences()
  const pki = testPki()
  const version = workerdVersion()
  if (version.installed !== version.pinned) {
    throw new Error(
      `workerd ${version.installed} is installed, the suite is pinned to ${version.pinned}`
    )
  }
  const control = await startControlServer()
  const workerd = await startWorkerd(scenarios, pki.ca).catch(async (e: unknown) => {
    await control.close()
    throw e
  })
  const outcomes: Outcome[] = []
  try {
    const runOne = async (s: Scenario): Promise<Outcome> => {
      const [w, n] = await Promise.all([startServers(s), startServers(s)])
      try {
        const [wr, nr] = await Promise.all([
          workerd.run(s, w.map, control.port),
          runInNode(
            s,
            n.map,
            async (name, until, timeoutMs) => {
              const server = n.live.get(name)
              if (!server) throw new Error(`undeclared server ${name}`)
              return viewOf(server, until, timeoutMs)
            },
            pki.ca
          ),
        ])
        const expected = normalize(s, wr.trace, w.map)
        const actual = normalize(s, nr.trace, n.map)
        const difference = differences.get(s.id)
        const equal = wr.failure === undefined && nr.failure === undefined && same(expected, actual)
        const lines = differingLines(expected, actual)
        const status = statusOf(difference, equal, lines, [wr, nr])
        return { scenario: s, workerd: wr, wharf: nr, expected, actual, status, difference, lines }
      } finally {
        await Promise.all([stopServers(w.live), stopServers(n.live)])
      }
    }
    let next = 0
    const lane = async (): Promise<void> => {
      for (;;) {
        const s = scenarios[next++]
        if (!s) return
        const o = await runOne(s)
        outcomes.push(o)
        options.onOutcome?.(o)
      }
    }
    await Promise.all(Array.from({ length: options.concurrency ?? 6 }, lane))
  } finally {
    await workerd.stop()
    await control.close()
  }
  const order = new Map(scenarios.map((s, i) => [s.id, i]))
  outcomes.sort((a, b) => (order.get(a.scenario.id) ?? 0) - (order.get(b.scenario.id) ?? 0))
  return {
    outcomes,
    ms: performance.now() - started,
    workerd: { ...version, compatibilityDate: COMPATIBILITY_DATE },
    staleDifferences: outcomes.filter((o) => o.status === 'stale').map((o) => o.scenario.id),
    unknownDifferences: [...differences.keys()].filter((id) => !ids.has(id)),
  }
}

function cell(r: RunResult): string {
  if (r.failure) return `FAILED: ${r.failure.slice(0, 40)}`
  const last = r.trace[r.trace.length - 1]
  const timedOut = last?.event === 'scenario-timeout' ? ' TIMEOUT' : ''
  return `${r.trace.length} events, ${Math.round(r.ms)} ms${timedOut}`
}

/** The summary table: scenario | workerd | wharf | match. */
export function summaryTable(result: SuiteResult): string {
  const rows = result.outcomes.map((o) => [
    o.scenario.id,
    cell(o.workerd),
    cell(o.wharf),
    o.status === 'match'
      ? 'yes'
      : o.status === 'documented'
        ? o.difference?.kind === 'gap'
          ? 'known gap'
          : 'documented'
        : o.status === 'stale'
          ? 'NO (stale entry)'
          : o.status === 'changed'
            ? 'NO (not the documented difference)'
            : 'NO',
  ])
  const head = ['scenario', 'workerd', 'wharf', 'match']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]): string =>
    `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  const count = (s: Status): number => result.outcomes.filter((o) => o.status === s).length
  const gaps = (gap: boolean): number =>
    result.outcomes.filter(
      (o) => o.status === 'documented' && (o.difference?.kind === 'gap') === gap
    ).length
  return [
    `workerd ${result.workerd.installed} (pinned ${result.workerd.pinned}), compatibilityDate ${result.workerd.compatibilityDate}`,
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    `${result.outcomes.length} scenarios: ${count('match')} match, ${gaps(false)} deliberate differences, ${gaps(true)} known gaps, ${count('mismatch')} unexplained mismatches, ${count('changed') + count('stale')} documented differences that changed or went stale; ${(result.ms / 1000).toFixed(1)} s`,
  ].join('\n')
}

/** A readable side-by-side of two traces for a failure message. */
export function traceDiff(o: Outcome): string {
  const fmt = (t: TraceEntry[]): string[] =>
    t.map((e) => (e.value === undefined ? e.event : `${e.event} ${JSON.stringify(e.value)}`))
  const w = fmt(o.expected)
  const n = fmt(o.actual)
  const lines: string[] = []
  for (let i = 0; i < Math.max(w.length, n.length); i++) {
    const a = w[i] ?? '<none>'
    const b = n[i] ?? '<none>'
    lines.push(a === b ? `   ${a}` : ` - workerd: ${a}\n + wharf:   ${b}`)
  }
  if (o.status === 'changed' && o.difference) {
    lines.push('documented in DIFFERENCES.md as:', ...o.difference.lines.map((l) => `   ${l}`))
  }
  if (o.workerd.failure) lines.push(`workerd run failed: ${o.workerd.failure}`)
  if (o.wharf.failure) lines.push(`wharf run failed: ${o.wharf.failure}`)
  return lines.join('\n')
}
