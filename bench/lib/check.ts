// The regression guard (`npm run bench -- --check`): the ratios a run yields, compared with the
// committed bench/baseline.json. Ratios, not absolute figures, because a shared 2-core machine
// moves every absolute figure with its load; a ratio to a peer measured in the same run
// (interleaved) moves far less. Every ratio is oriented so that higher is better.

interface Stat {
  readonly median?: number
}

interface SocketRow {
  readonly id: string
  readonly lowerIsBetter?: boolean
  readonly peers: Readonly<Record<string, Stat | undefined>>
}

interface PoolRow {
  readonly target: string
  readonly scenario?: string
  readonly connectPerTransaction: boolean
  readonly tps: Stat
  readonly cpuUsPerTx?: Stat
}

interface FarRow {
  readonly target: string
  readonly p50: Stat
}

/** The parts of a bench result (bench/results/*.json) the guard reads. */
export interface BenchResult {
  readonly meta: { readonly mode: string; readonly date?: string; readonly commit?: string }
  readonly sockets?: readonly SocketRow[]
  readonly pool?: {
    readonly rows?: readonly PoolRow[]
    readonly far?: {
      readonly floorMs?: number
      readonly loopbackP50?: number
      readonly rows?: readonly FarRow[]
    }
  }
  readonly host?: { readonly rows?: readonly { name: string; rps: number }[] }
}

export interface BaselineEntry {
  readonly date?: string
  readonly commit?: string
  readonly ratios: Readonly<Record<string, number>>
}

/** bench/baseline.json: one entry per mode, because `--quick` sizes give different ratios. */
export interface Baseline {
  readonly tolerance: number
  readonly modes: Readonly<Record<string, BaselineEntry>>
}

export interface CheckLine {
  readonly key: string
  readonly baseline: number
  readonly now: number | undefined
  /** now / baseline − 1 */
  readonly change: number | undefined
  readonly status: 'ok' | 'drop' | 'missing'
}

export interface CheckReport {
  readonly mode: string
  readonly ok: boolean
  readonly lines: CheckLine[]
  /** Why nothing could be compared, when so. */
  readonly problem?: string
}

/** `full` or `quick` (the result's mode reads "quick (smoke sizes, …)"). */
export function modeKey(result: BenchResult): string {
  return result.meta.mode.split(' ')[0] ?? result.meta.mode
}

const finite = (x: number | undefined): x is number => typeof x === 'number' && Number.isFinite(x)

function put(out: Record<string, number>, key: string, num?: number, den?: number): void {
  if (finite(num) && finite(den) && num > 0 && den > 0) out[key] = num / den
}

function poolMode(row: PoolRow): string {
  if (row.scenario === 'hot') return 'hot'
  return row.connectPerTransaction ? 'select-connect' : 'select'
}

/** Every guarded ratio of a result, keyed by a stable name; higher is better for each. */
export function ratiosOf(result: BenchResult): Record<string, number> {
  const out: Record<string, number> = {}
  for (const row of result.sockets ?? []) {
    const node = row.peers.node?.median
    const wharf = row.peers.wharf?.median
    if (row.lowerIsBetter) put(out, `sockets/${row.id}: node / wharf`, node, wharf)
    else put(out, `sockets/${row.id}: wharf / node`, wharf, node)
  }
  const pool = result.pool?.rows ?? []
  const tps = (target: string, mode: string): number | undefined =>
    pool.find((r) => r.target === target && poolMode(r) === mode)?.tps.median
  for (const mode of ['select', 'select-connect', 'hot']) {
    put(out, `pool/${mode}: wharf / pgbouncer`, tps('wharf', mode), tps('pgbouncer', mode))
    put(out, `pool/${mode}: wharf+cache / direct`, tps('wharf+cache', mode), tps('direct', mode))
    const cpu = (target: string): number | undefined =>
      pool.find((r) => r.target === target && poolMode(r) === mode)?.cpuUsPerTx?.median
    put(out, `pool/${mode} CPU per transaction: pgbouncer / wharf`, cpu('pgbouncer'), cpu('wharf'))
  }
  const far = result.pool?.far
  for (const r of far?.rows ?? []) {
    if (r.target !== 'wharf' && r.target !== 'wharf+cache') continue
    const floor = r.target === 'wharf+cache' ? far?.loopbackP50 : far?.floorMs
    put(out, `far/${r.target}: floor / p50`, floor, r.p50.median)
  }
  const host = result.host?.rows ?? []
  const plain = host.find((r) => r.name.startsWith('plain'))?.rps
  for (const r of host) {
    if (!r.name.startsWith('plain')) put(out, `host/${r.name} / plain`, r.rps, plain)
  }
  return out
}

/**
 * Compares a result with the baseline of its mode: a ratio more than `tolerance` (0.15) below
 * its baseline is a drop. A ratio the run did not measure (--only, a section that could not run)
 * is listed as missing and fails nothing; a baseline with no entry for the mode fails.
 */
export function check(baseline: Baseline, result: BenchResult): CheckReport {
  const mode = modeKey(result)
  const entry = baseline.modes[mode]
  if (!entry) {
    return {
      mode,
      ok: false,
      lines: [],
      problem: `bench/baseline.json has no entry for mode "${mode}": refresh it (bench/README.md)`,
    }
  }
  const now = ratiosOf(result)
  const lines: CheckLine[] = []
  for (const [key, base] of Object.entries(entry.ratios)) {
    const value = now[key]
    if (!finite(value)) {
      lines.push({ key, baseline: base, now: undefined, change: undefined, status: 'missing' })
      continue
    }
    const change = value / base - 1
    lines.push({
      key,
      baseline: base,
      now: value,
      change,
      status: change < -baseline.tolerance ? 'drop' : 'ok',
    })
  }
  const compared = lines.filter((l) => l.status !== 'missing').length
  return {
    mode,
    ok: compared > 0 && lines.every((l) => l.status !== 'drop'),
    lines,
    ...(compared === 0 ? { problem: 'no ratio of the baseline was measured in this run' } : {}),
  }
}

/** The baseline with this result's ratios as the entry for its mode (other modes kept). */
export function updated(baseline: Baseline | undefined, result: BenchResult): Baseline {
  return {
    tolerance: baseline?.tolerance ?? 0.15,
    modes: {
      ...(baseline?.modes ?? {}),
      [modeKey(result)]: {
        ...(result.meta.date ? { date: result.meta.date } : {}),
        ...(result.meta.commit ? { commit: result.meta.commit } : {}),
        ratios: ratiosOf(result),
      },
    },
  }
}

export function checkMarkdown(report: CheckReport, tolerance: number): string {
  const pct = (x: number | undefined): string =>
    x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
  const lines = [
    `## Check against bench/baseline.json (${report.mode}; a drop of more than ${(tolerance * 100).toFixed(0)}% fails)`,
    '',
  ]
  if (report.problem) lines.push(`**${report.problem}**`, '')
  if (report.lines.length) {
    lines.push('| ratio (higher is better) | baseline | now | change | |', '|---|---|---|---|---|')
    for (const l of report.lines) {
      const mark = l.status === 'drop' ? '**DROP**' : l.status === 'missing' ? 'not run' : 'ok'
      lines.push(
        `| ${l.key} | ${l.baseline.toFixed(2)} | ${l.now === undefined ? 'n/a' : l.now.toFixed(2)} | ${pct(l.change)} | ${mark} |`
      )
    }
    lines.push('')
  }
  lines.push(report.ok ? 'Check passed.' : 'Check FAILED.')
  return lines.join('\n')
}
