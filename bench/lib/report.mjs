// Statistics and the Markdown report (tables, ratios, comparison with an earlier result).
import { PEERS } from './scenarios.mjs'

export function summarize(values) {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return undefined
  const mid = Math.floor(xs.length / 2)
  const median = xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
  return { median, min: xs[0], max: xs[xs.length - 1], runs: values }
}

export function fmt(x) {
  if (!Number.isFinite(x)) return 'n/a'
  const abs = Math.abs(x)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

const ratio = (a, b) => (Number.isFinite(a / b) && b !== 0 ? `${(a / b).toFixed(2)}×` : 'n/a')

/** One row per metric: { id, title, unit, lowerIsBetter, peers: { id: stats | { na } } }. */
export function socketTable(rows) {
  const head = [
    'Scenario',
    'Unit',
    ...PEERS.map((p) => p.label),
    '@wharf/sockets vs node',
    '@wharf/sockets vs best peer',
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const row of rows) {
    const node = row.peers.node?.median
    const cells = PEERS.map((p) => {
      const s = row.peers[p.id]
      if (!s || s.median === undefined) return s?.na ? `n/a (${s.na})` : 'n/a'
      const vsNode = p.id === 'node' ? '' : ` · ${ratio(s.median, node)}`
      return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})${vsNode}`
    })
    const wharf = row.peers.wharf?.median
    const peers = ['arrowood', 'workerd']
      .map((id) => ({ id, v: row.peers[id]?.median }))
      .filter((p) => Number.isFinite(p.v))
    const best = peers.sort((a, b) => (row.lowerIsBetter ? a.v - b.v : b.v - a.v))[0]
    const unit = row.lowerIsBetter ? `${row.unit} (lower is better)` : row.unit
    lines.push(
      `| ${row.title} | ${unit} | ${cells.join(' | ')} | ${ratio(wharf, node)} | ${
        best ? `${ratio(wharf, best.v)} (${PEERS.find((p) => p.id === best.id)?.label})` : 'n/a'
      } |`
    )
  }
  // One line per TLS scenario: its CPU row carries the same counts.
  const resumed = rows.filter((r) => r.tlsResumed && !r.id.endsWith('-cpuUsPerOp'))
  if (resumed.length) {
    lines.push('', 'TLS sessions resumed / handshakes over all runs, as the server saw them:', '')
    for (const r of resumed) {
      const parts = PEERS.filter((p) => r.tlsResumed[p.id] !== undefined).map((p) => {
        // Stored per run as "resumed/handshakes (suite)", joined with ", ".
        let resumedSum = 0
        let total = 0
        const suites = new Set()
        for (const m of r.tlsResumed[p.id].matchAll(/(\d+)\/(\d+) \(([^)]*)\)/g)) {
          resumedSum += Number(m[1])
          total += Number(m[2])
          suites.add(m[3])
        }
        return total ? `${p.label} ${resumedSum}/${total}` : `${p.label} n/a`
      })
      const suites = new Set(
        Object.values(r.tlsResumed).flatMap((v) => [...v.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]))
      )
      lines.push(`- ${r.title}: ${parts.join('; ')} (negotiated: ${[...suites].join(', ')})`)
    }
  }
  return lines.join('\n')
}

/** select | select-connect | hot: which pgbench run a pool row is (older results lack `scenario`). */
export function poolMode(row) {
  if (row.scenario === 'hot') return 'hot'
  return row.connectPerTransaction ? 'select-connect' : 'select'
}

const POOL_TARGETS = [
  ['direct', 'direct'],
  ['pgbouncer', 'PgBouncer'],
  ['wharf', 'wharf pool'],
  ['wharf+cache', 'wharf pool + cache'],
]

const POOL_MODES = [
  ['select', '`pgbench -S` (100,000 rows, uniform)'],
  ['select-connect', '`pgbench -S -C` (a new connection per transaction)'],
  ['hot', '`pgbench -f hot-set` (1,000 rows, Zipfian 1.1)'],
]

export function poolTable(pool) {
  if (!pool || pool.na) return `Not available: ${pool?.na ?? 'not run'}`
  const clients = /-c (\d+)/.exec(pool.rows[0]?.name ?? '')?.[1] ?? '?'
  const lines = [
    `| TPS, -c ${clients} -j 2, median (min–max) | ${POOL_TARGETS.map((t) => t[1]).join(' | ')} | wharf pool vs PgBouncer | wharf pool + cache vs direct |`,
    `|${Array.from({ length: POOL_TARGETS.length + 3 }, () => '---').join('|')}|`,
  ]
  for (const [mode, label] of POOL_MODES) {
    const rows = pool.rows.filter((r) => poolMode(r) === mode)
    if (rows.length === 0) continue
    const get = (t) => rows.find((r) => r.target === t)?.tps
    const cells = POOL_TARGETS.map(([t]) => {
      const s = get(t)
      return s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : 'n/a'
    })
    lines.push(
      `| ${label} | ${cells.join(' | ')} | ${ratio(
        get('wharf')?.median,
        get('pgbouncer')?.median
      )} | ${ratio(get('wharf+cache')?.median, get('direct')?.median)} |`
    )
  }
  if (pool.rows.some((r) => r.cpuUsPerTx)) {
    lines.push(
      '',
      'Pooler CPU per transaction (user + system of the pooler process, µs, median (min–max); lower is better):',
      '',
      '| run | PgBouncer | wharf pool | wharf pool + cache | wharf pool vs PgBouncer |',
      '|---|---|---|---|---|'
    )
    for (const [mode, label] of POOL_MODES) {
      const rows = pool.rows.filter((r) => poolMode(r) === mode)
      if (rows.length === 0) continue
      const get = (t) => rows.find((r) => r.target === t)?.cpuUsPerTx
      const cell = (t) => {
        const s = get(t)
        return s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : 'n/a'
      }
      lines.push(
        `| ${label} | ${cell('pgbouncer')} | ${cell('wharf')} | ${cell('wharf+cache')} | ${ratio(get('wharf')?.median, get('pgbouncer')?.median)} |`
      )
    }
  }
  const far = pool.far
  if (far?.rows) {
    lines.push(
      '',
      `### Far origin (PostgreSQL ${2 * far.delayMs} ms of round trip away)`,
      '',
      `A Worker-style client (\`pg\` over node:net, a fresh process per run) connects, runs one query and disconnects, ${fmt(far.iterations)} times per run; latency is connect → the query's result. The uncached floor is one far round trip plus the loopback path (the same client against PgBouncer next to a near PostgreSQL: p50 ${fmt(far.loopbackP50)} ms), so ${fmt(far.floorMs)} ms; the cached floor is the loopback path alone.`,
      '',
      '| target | p50 (ms) | p99 (ms) | p50 vs floor | errors |',
      '|---|---|---|---|---|'
    )
    for (const r of far.rows) {
      const floor = r.target === 'wharf+cache' ? far.loopbackP50 : far.floorMs
      const label = POOL_TARGETS.find((t) => t[0] === r.target)?.[1] ?? r.target
      lines.push(
        `| ${label} | ${fmt(r.p50.median)} (${fmt(r.p50.min)}–${fmt(r.p50.max)}) | ${fmt(r.p99.median)} (${fmt(r.p99.min)}–${fmt(r.p99.max)}) | ${ratio(r.p50.median, floor)} | ${r.errors} |`
      )
    }
  } else if (far?.na) lines.push('', `Far origin: not available: ${far.na}`)
  return lines.join('\n')
}

export function hostTable(host) {
  if (!host || host.na) return `Not available: ${host?.na ?? 'not run'}`
  const plain = host.rows.find((r) => r.name.startsWith('plain'))
  const lines = [
    '| Server | req/s | vs plain | p99 (ms) | server CPU per request (µs, lower is better) | errors |',
    '|---|---|---|---|---|---|',
  ]
  for (const r of host.rows) {
    lines.push(
      `| ${r.name} | ${fmt(r.rps)} | ${ratio(r.rps, plain?.rps)} | ${r.p99} | ${fmt(r.cpuUsPerReq)} | ${r.errors} |`
    )
  }
  return [lines.join('\n'), '', ...host.notes.map((n) => `- ${n}`)].join('\n')
}

/** Change of every median versus an earlier result file. */
export function compareTable(current, earlier) {
  const lines = [
    `Compared with ${earlier.meta?.date ?? 'an earlier run'} (${earlier.meta?.commit ?? '?'}, ${earlier.meta?.mode ?? '?'}).`,
    ...(earlier.meta?.mode !== current.meta.mode
      ? [
          '',
          '**The two runs used different modes (sizes differ): the changes are not comparable.**',
        ]
      : []),
    '',
    '| Scenario | Peer | before | now | change |',
    '|---|---|---|---|---|',
  ]
  const pct = (a, b) =>
    Number.isFinite(a) && Number.isFinite(b) && b !== 0
      ? `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)}%`
      : 'n/a'
  for (const row of current.sockets) {
    const old = earlier.sockets?.find((r) => r.id === row.id)
    if (!old) continue
    for (const p of PEERS) {
      const a = row.peers[p.id]?.median
      const b = old.peers?.[p.id]?.median
      if (a === undefined && b === undefined) continue
      lines.push(`| ${row.title} | ${p.label} | ${fmt(b)} | ${fmt(a)} | ${pct(a, b)} |`)
    }
  }
  for (const r of current.pool?.rows ?? []) {
    const old = earlier.pool?.rows?.find(
      (o) => o.target === r.target && poolMode(o) === poolMode(r)
    )
    if (old) {
      lines.push(
        `| ${r.name} | pool | ${fmt(old.tps.median)} | ${fmt(r.tps.median)} | ${pct(r.tps.median, old.tps.median)} |`
      )
    }
  }
  for (const r of current.host?.rows ?? []) {
    const old = earlier.host?.rows?.find((o) => o.name === r.name)
    if (old) {
      lines.push(
        `| host: ${r.name} | req/s | ${fmt(old.rps)} | ${fmt(r.rps)} | ${pct(r.rps, old.rps)} |`
      )
    }
  }
  return lines.join('\n')
}

export function markdown(result, comparison) {
  const m = result.meta
  return [
    '# Wharf benchmark',
    '',
    `${m.date} · commit ${m.commit} · ${m.mode} · ${m.runs} run(s) per figure · Node ${m.node} · ${m.workerd} · ${m.cpus}× ${m.cpu} · load average ${m.loadavg} at the start, ${m.loadavgEnd} at the end · ${m.durationS} s${m.timeWait === undefined ? '' : ` · TCP TIME_WAIT sockets ${m.timeWait} at the start, ${m.timeWaitEnd} at the end`}`,
    '',
    '## Sockets',
    '',
    'Each cell: median (min–max) over the runs, then the ratio to raw Node. Higher is better except for memory.',
    '',
    socketTable(result.sockets),
    '',
    ...(result.notes.length ? result.notes.map((n) => `- ${n}`) : []),
    '',
    '## Pooler (pgbench)',
    '',
    poolTable(result.pool),
    '',
    '## Host (wharf dev, bench/host)',
    '',
    hostTable(result.host),
    '',
    ...(comparison ? ['## Change', '', comparison, ''] : []),
  ].join('\n')
}
