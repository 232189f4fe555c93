#!/usr/bin/env -S npx tsx
/**
 * The soak: `wharf serve` under mixed load for a long time, sampled every few seconds, so that
 * leaks and drift show as slopes. Not part of `npm test`.
 *
 *   npx tsx bench/soak/run.ts [--minutes 30] [--connections 8] [--sample 10] [--reload 120]
 *                             [--processes 2]
 *
 * Load: Worker requests that open a socket (/echo), reads through the Hyperdrive binding with
 * the cache on a hot set (/read), writes that invalidate it (/write, each followed by a read of
 * the same row that must see the written value), and a deploy (SIGHUP) every --reload seconds.
 * Samples: RSS and open descriptors of every process of the serve tree, the supervisor's heap
 * and event-loop delay (/metrics), the pooler's and PostgreSQL's origin connections, and the
 * window's latency percentiles and errors. Writes bench/results/soak-<time>.{json,md,svg}.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startPostgres, type PostgresServer } from '../../test-support/postgres.js'
import { chart, type Series } from './chart.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')
const HOT_ROWS = 1000
const REQUEST_TIMEOUT_MS = 15_000

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    connections: { type: 'string', default: '8' },
    sample: { type: 'string', default: '10' },
    reload: { type: 'string', default: '120' },
    processes: { type: 'string', default: '2' },
  },
})
const minutes = Number(values.minutes)
const connections = Number(values.connections)
const sampleSec = Number(values.sample)
const reloadSec = Number(values.reload)
for (const [name, v] of Object.entries({ minutes, connections, sampleSec, reloadSec })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`)
}

const log = (line: string): void => {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
}

// ---- the processes under test -------------------------------------------------------------

function startEcho(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined)
    s.pipe(s)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

interface Served {
  readonly child: ChildProcess
  readonly url: string
  readonly admin: string
  output(): string
}

async function startServe(db: PostgresServer, echoPort: number): Promise<Served> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      join(HERE, 'worker'),
      '--port',
      '0',
      '--admin-port',
      '0',
      '--processes',
      String(values.processes),
      '--var',
      `ECHO:127.0.0.1:${echoPort}`,
      '--allow',
      '127.0.0.1/32',
      '--log-format',
      'json',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB: `${db.connectionString}?sslmode=disable`,
      },
    }
  )
  // Keep the last 64 KiB of output for error reports; request lines are not kept.
  let tail = ''
  const keep = (c: Buffer): void => {
    tail = (tail + c.toString()).slice(-65536)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const deadline = Date.now() + 60_000
  for (;;) {
    const url = /serving .* on (http:\/\/[^\s"]+)/.exec(tail)?.[1]
    const admin = /admin listener on (http:\/\/[^\s"]+)/.exec(tail)?.[1]
    if (url && admin) return { child, url, admin, output: () => tail }
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`wharf serve did not start:\n${tail}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

// ---- what is sampled ----------------------------------------------------------------------

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}

/** RSS (bytes) and open descriptors of a process and all its descendants. */
function tree(pid: number): { rss: number; fds: number; processes: number } {
  let rss = 0
  let fds = 0
  let processes = 0
  const seen = new Set<number>()
  const walk = (p: number, depth: number): void => {
    if (seen.has(p) || depth > 6 || seen.size > 500) return
    seen.add(p)
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
      fds += readdirSync(`/proc/${p}/fd`).length
      processes++
    } catch {
      return // gone
    }
    for (const c of childPids(p)) walk(c, depth + 1)
  }
  walk(pid, 0)
  return { rss, fds, processes }
}

function metric(text: string, series: string): number {
  for (const line of text.split('\n'))
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  return Number.NaN
}

interface Sample {
  readonly t: number
  readonly treeRssMiB: number
  readonly treeFds: number
  readonly processes: number
  readonly supervisorRssMiB: number
  readonly supervisorHeapMiB: number
  readonly eventLoopP99Ms: number
  readonly poolOriginConnections: number
  readonly postgresConnections: number
  readonly requests: number
  readonly errors: number
  readonly stale: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly load: number
}

// ---- the load -----------------------------------------------------------------------------

interface Window {
  latencies: number[]
  errors: number
  stale: number
  requests: number
}

const percentile = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  return { status: r.status, body: await r.text() }
}

/** Zipf-ish: most reads go to a few rows of the hot set. */
function hotId(): number {
  return 1 + Math.floor(HOT_ROWS * Math.random() ** 3)
}

/**
 * One client. Loop `index` of `count` writes only the rows with id % count === index, so no
 * two loops write one row and a read after a write must answer exactly what was written.
 */
async function loadLoop(
  index: number,
  count: number,
  base: string,
  until: number,
  w: () => Window,
  errorsSeen: string[]
): Promise<void> {
  while (Date.now() < until) {
    const roll = Math.random()
    const started = performance.now()
    const window = w()
    try {
      if (roll < 0.5) {
        const r = await get(`${base}/echo`)
        if (r.status !== 200 || r.body !== 'pong') throw new Error(`/echo ${r.status} ${r.body}`)
      } else if (roll < 0.95) {
        const r = await get(`${base}/read?id=${hotId()}`)
        if (r.status !== 200) throw new Error(`/read ${r.status} ${r.body.slice(0, 200)}`)
      } else {
        const hot = hotId()
        let id = hot - (hot % count) + index
        if (id < 1) id += count
        if (id > HOT_ROWS) id -= count
        const wrote = await get(`${base}/write?id=${id}`)
        if (wrote.status !== 200)
          throw new Error(`/write ${wrote.status} ${wrote.body.slice(0, 200)}`)
        // Read-your-writes through the cache: the next read must see the value just written.
        const read = await get(`${base}/read?id=${id}`)
        if (read.status !== 200) throw new Error(`/read ${read.status}`)
        if (read.body !== wrote.body) {
          window.stale++
          if (errorsSeen.length < 20)
            errorsSeen.push(`stale: wrote ${wrote.body}, read ${read.body}`)
        }
      }
      window.latencies.push(performance.now() - started)
    } catch (error) {
      window.errors++
      if (errorsSeen.length < 20) errorsSeen.push(String((error as Error).message).slice(0, 300))
    }
    window.requests++
  }
}

// ---- the run ------------------------------------------------------------------------------

function slopePerHour(samples: readonly Sample[], pick: (s: Sample) => number): number {
  const pts = samples
    .map((s) => [s.t / 3600, pick(s)] as const)
    .filter(([, y]) => Number.isFinite(y))
  if (pts.length < 3) return Number.NaN
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length
  let num = 0
  let den = 0
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

async function main(): Promise<void> {
  log(
    `starting PostgreSQL, the echo service and wharf serve (${minutes} min, ${connections} connections)`
  )
  const db = await startPostgres()
  const echo = await startEcho()
  let served: Served | undefined
  try {
    const rows = Array.from({ length: HOT_ROWS }, (_, i) => `(${i + 1}, 'row ${i + 1}')`).join(',')
    db.psql(
      `CREATE TABLE soak_items (id int primary key, name text); INSERT INTO soak_items VALUES ${rows}`
    )
    served = await startServe(db, (echo.address() as net.AddressInfo).port)
    const s = served
    log(`serving on ${s.url}, admin ${s.admin}`)
    const started = Date.now()
    const until = started + minutes * 60_000
    let window: Window = { latencies: [], errors: 0, stale: 0, requests: 0 }
    const allErrors: string[] = []
    const samples: Sample[] = []
    let reloads = 0
    const loops = Array.from({ length: connections }, (_, i) =>
      loadLoop(i, connections, s.url, until, () => window, allErrors)
    )
    const reloader = setInterval(() => {
      s.child.kill('SIGHUP')
      reloads++
    }, reloadSec * 1000)
    const sampler = setInterval(() => {
      const w = window
      window = { latencies: [], errors: 0, stale: 0, requests: 0 }
      void (async () => {
        const text = await get(`${s.admin}/metrics`).then(
          (r) => r.body,
          () => ''
        )
        const t = tree(s.child.pid ?? 0)
        const own = Number(
          /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.child.pid}/status`, 'utf8'))?.[1] ?? 0
        )
        let pgConns = Number.NaN
        try {
          pgConns = Number(
            db
              .psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
              .trim()
          )
        } catch {
          // counted as missing
        }
        const sample: Sample = {
          t: (Date.now() - started) / 1000,
          treeRssMiB: t.rss / 2 ** 20,
          treeFds: t.fds,
          processes: t.processes,
          supervisorRssMiB: own / 1024,
          supervisorHeapMiB: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
          eventLoopP99Ms: metric(text, 'nodejs_eventloop_delay_p99_seconds') * 1000,
          poolOriginConnections: metric(text, 'wharf_hyperdrive_origin_connections{binding="DB"}'),
          postgresConnections: pgConns,
          requests: w.requests,
          errors: w.errors,
          stale: w.stale,
          p50Ms: percentile(w.latencies, 50),
          p99Ms: percentile(w.latencies, 99),
          load: loadavg()[0] ?? 0,
        }
        samples.push(sample)
        log(
          `t=${sample.t.toFixed(0)}s req ${w.requests} err ${w.errors} stale ${w.stale} p99 ${sample.p99Ms.toFixed(1)} ms | tree ${sample.treeRssMiB.toFixed(0)} MiB ${t.fds} fds ${t.processes} procs | heap ${sample.supervisorHeapMiB.toFixed(1)} MiB loop p99 ${sample.eventLoopP99Ms.toFixed(1)} ms | origin ${sample.poolOriginConnections}/${pgConns} | load ${sample.load.toFixed(1)}`
        )
      })()
    }, sampleSec * 1000)
    await Promise.all(loops)
    clearInterval(reloader)
    clearInterval(sampler)
    await new Promise((r) => setTimeout(r, 200))
    report(samples, reloads, allErrors, s.output())
  } finally {
    served?.child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 1000))
    served?.child.kill('SIGKILL')
    echo.close()
    await db.stop()
  }
}

function report(samples: Sample[], reloads: number, errors: string[], output: string): void {
  // The first two minutes warm up (JIT, pools filling); slopes are fitted after them.
  const warm = samples.filter((s) => s.t >= Math.min(120, (minutes * 60) / 5))
  const edge = Math.min(300, (minutes * 60) / 5)
  const first = samples.filter((s) => s.t <= edge)
  const last = samples.filter((s) => s.t >= minutes * 60 - edge)
  const meanP99 = (xs: Sample[]): number =>
    xs.reduce((a, s) => a + (Number.isFinite(s.p99Ms) ? s.p99Ms : 0), 0) / Math.max(1, xs.length)
  const totals = samples.reduce(
    (a, s) => ({
      requests: a.requests + s.requests,
      errors: a.errors + s.errors,
      stale: a.stale + s.stale,
    }),
    { requests: 0, errors: 0, stale: 0 }
  )
  const rssSlope = slopePerHour(warm, (s) => s.treeRssMiB)
  const fdSlope = slopePerHour(warm, (s) => s.treeFds)
  const heapSlope = slopePerHour(warm, (s) => s.supervisorHeapMiB)
  const meanRss = warm.reduce((a, s) => a + s.treeRssMiB, 0) / Math.max(1, warm.length)
  const p99Ratio = meanP99(last) / meanP99(first)
  const hours = (minutes - Math.min(2, minutes / 5)) / 60
  const goals = [
    ['no error responses', totals.errors === 0, `${totals.errors} of ${totals.requests}`],
    ['no stale read after a write', totals.stale === 0, `${totals.stale}`],
    [
      'flat memory (fitted growth over the run < 10% of the mean)',
      Math.abs(rssSlope * hours) < 0.1 * meanRss,
      `${rssSlope.toFixed(1)} MiB/h on a mean of ${meanRss.toFixed(0)} MiB`,
    ],
    [
      'flat descriptors (fitted growth over the run < 8)',
      Math.abs(fdSlope * hours) < 8,
      `${fdSlope.toFixed(1)} fds/h`,
    ],
    [
      'p99 stable (mean p99, last vs first window, <= 1.5x)',
      p99Ratio <= 1.5,
      `${p99Ratio.toFixed(2)}x (${meanP99(first).toFixed(1)} -> ${meanP99(last).toFixed(1)} ms)`,
    ],
  ] as const
  const loads = samples.map((s) => s.load)
  const md = [
    `# Soak: ${minutes} min of wharf serve (${values.processes} runtime processes), ${connections} connections`,
    '',
    `Node ${process.version}; load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; ${totals.requests} requests; ${reloads} deploys (SIGHUP); a sample every ${sampleSec} s.`,
    '',
    '| goal | met | figure |',
    '|---|---|---|',
    ...goals.map(([g, ok, fig]) => `| ${g} | ${ok ? 'yes' : '**no**'} | ${fig} |`),
    '',
    `Supervisor heap slope ${heapSlope.toFixed(2)} MiB/h. Last sample: ${JSON.stringify(samples.at(-1) ?? {})}`,
    '',
    ...(errors.length ? ['First errors:', '', ...errors.map((e) => `- ${e}`), ''] : []),
  ].join('\n')
  const series: Series[] = [
    { name: 'serve tree RSS (MiB)', points: samples.map((s) => [s.t, s.treeRssMiB]) },
    { name: 'serve tree open fds', points: samples.map((s) => [s.t, s.treeFds]) },
    { name: 'supervisor heap (MiB)', points: samples.map((s) => [s.t, s.supervisorHeapMiB]) },
    { name: 'event-loop delay p99 (ms)', points: samples.map((s) => [s.t, s.eventLoopP99Ms]) },
    {
      name: 'PostgreSQL client connections',
      points: samples.map((s) => [s.t, s.postgresConnections]),
    },
    { name: 'request p99 (ms)', points: samples.map((s) => [s.t, s.p99Ms]) },
    { name: 'requests per sample', points: samples.map((s) => [s.t, s.requests]) },
  ]
  const dir = join(ROOT, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  writeFileSync(
    join(dir, `soak-${stamp}.json`),
    JSON.stringify({ minutes, connections, samples, errors }, null, 1)
  )
  writeFileSync(join(dir, `soak-${stamp}.svg`), chart(series, `wharf serve soak, ${minutes} min`))
  writeFileSync(join(dir, `soak-${stamp}.md`), md + `\n![chart](soak-${stamp}.svg)\n`)
  process.stdout.write(md + `\nchart: bench/results/soak-${stamp}.svg\n`)
  if (totals.errors > 0) process.stderr.write(`serve output tail:\n${output.slice(-4000)}\n`)
  process.exitCode = goals.every(([, ok]) => ok) ? 0 : 1
}

await main()
