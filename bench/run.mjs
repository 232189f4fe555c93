#!/usr/bin/env node
// The benchmark report: every socket scenario against raw node:net/tls, @wharf/sockets (its built
// dist), @arrowood.dev/socket and workerd's connect(); then the pooler's pgbench table
// (bench/pool) and the host benchmark (bench/host). See bench/README.md.
//
//   npm run bench [-- --runs 5] [--quick] [--only recv-64k,setup] [--compare FILE]
//                 [--no-pool] [--no-host] [--no-workerd] [--report SAVED.json]
//                 [--check] [--update-baseline] [--baseline FILE]
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { makePki } from './lib/pki.mjs'
import { compareTable, markdown, summarize } from './lib/report.mjs'
import { figureOf, PEERS, SCENARIOS } from './lib/scenarios.mjs'
import { cpuOf, rssOf, startWorkerd } from './lib/workerd.mjs'

const ROOT = join(import.meta.dirname, '..')
const RESULTS = join(import.meta.dirname, 'results')
const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    compare: { type: 'string' },
    'no-pool': { type: 'boolean', default: false },
    'no-host': { type: 'boolean', default: false },
    'no-workerd': { type: 'boolean', default: false },
    report: { type: 'string' },
    check: { type: 'boolean', default: false },
    'update-baseline': { type: 'boolean', default: false },
    baseline: { type: 'string' },
  },
})
const baselinePath = values.baseline ?? join(import.meta.dirname, 'baseline.json')
const quick = values.quick
const runs = Math.max(1, Math.min(50, Number(values.runs ?? (quick ? 1 : 5))))
const only = values.only?.split(',').map((s) => s.trim()) ?? []
const wanted = (id) => only.length === 0 || only.some((o) => id === o || id.startsWith(o))
const log = (line) => process.stderr.write(`${line}\n`)
const notes = []
const earlier = values.compare ? JSON.parse(readFileSync(values.compare, 'utf8')) : undefined

/**
 * --check: the result's ratios against the baseline (exit status 1 on a drop);
 * --update-baseline: writes the result's ratios as the baseline of its mode.
 */
async function guard(result) {
  if (!values.check && !values['update-baseline']) return true
  const { tsImport } = await import('tsx/esm/api')
  const { check, checkMarkdown, updated } = await tsImport(
    pathToFileURL(join(import.meta.dirname, 'lib', 'check.ts')).href,
    import.meta.url
  )
  const baseline = existsSync(baselinePath)
    ? JSON.parse(readFileSync(baselinePath, 'utf8'))
    : undefined
  let ok = true
  if (values.check) {
    if (!baseline) {
      console.log(`\n**No baseline at ${baselinePath}**: refresh it (bench/README.md).`)
      ok = false
    } else {
      const report = check(baseline, result)
      console.log(`\n${checkMarkdown(report, baseline.tolerance)}`)
      ok = report.ok
    }
  }
  if (values['update-baseline']) {
    writeFileSync(baselinePath, JSON.stringify(updated(baseline, result), null, 2) + '\n')
    log(`wrote the ${result.meta.mode.split(' ')[0]} entry of ${baselinePath}`)
  }
  return ok
}

if (values.report) {
  // Re-print a saved result (optionally against another) without measuring anything.
  const saved = JSON.parse(readFileSync(values.report, 'utf8'))
  console.log(markdown(saved, earlier ? compareTable(saved, earlier) : undefined))
  process.exit((await guard(saved)) ? 0 : 1)
}

function build() {
  // Measure the shipped dist: rebuild it (incremental, cheap when up to date) before measuring.
  const hasFlock = spawnSync('flock', ['--version']).status === 0
  const cmd = hasFlock ? 'flock' : 'npm'
  const args = hasFlock ? ['/tmp/wharf-build.lock', 'npm', 'run', 'build'] : ['run', 'build']
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) {
    if (!existsSync(join(ROOT, 'packages', 'sockets', 'dist', 'index.js')))
      throw new Error('npm run build failed and there is no packages/sockets/dist')
    notes.push('`npm run build` failed; the existing packages/sockets/dist was measured.')
  }
}

/** Runs a process to completion with a timeout; resolves its stdout. */
function runChild(cmd, args, { env, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => {
      if (err.length < 10_000) err += c
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else
        reject(new Error(`${args.slice(-3, -1).join(' ')}: exit ${code ?? signal}: ${err.trim()}`))
    })
  })
}

async function startServers(pki) {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'lib', 'servers.mjs'), pki.certPath, pki.keyPath],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    }
  )
  const ports = await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('load servers did not start')), 15_000)
    child.stdout.on('data', (c) => {
      out += c
      const line = out.split('\n')[0]
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(JSON.parse(line))
      }
    })
    child.once('exit', (code) => reject(new Error(`load servers exited (${code})`)))
  })
  return { ports, pid: child.pid, stop: () => child.kill('SIGTERM') }
}

/** The load servers' TLS handshake counters. */
async function tlsStats(port) {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.setTimeout(5000, () => socket.destroy(new Error('stats timeout')))
  let text = ''
  for await (const chunk of socket) text += chunk
  return JSON.parse(text)
}

async function workerdRun(workerd, kind, params) {
  const cpu0 = cpuOf(workerd.pid)
  const url = `${workerd.url}/run?scenario=${kind}&params=${encodeURIComponent(JSON.stringify(params))}`
  const res = await fetch(url, { signal: AbortSignal.timeout(180_000) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`workerd ${kind}: ${res.status} ${text.slice(0, 500)}`)
  const result = JSON.parse(text)
  const cpu1 = cpuOf(workerd.pid)
  // The whole workerd process, the one HTTP request that drives the run included (negligible).
  if (result.ops && cpu0 !== undefined && cpu1 !== undefined)
    result.cpuUsPerOp = (cpu1 - cpu0) / result.ops
  return result
}

/** workerd's RSS growth while a Worker holds `count` idle sockets, in a fresh workerd. */
async function workerdHold(pki, port, count) {
  const workerd = await startWorkerd({ caPath: pki.caPath })
  try {
    const hold = async (n, holdMs, sample) => {
      const params = encodeURIComponent(JSON.stringify({ port, count: n, holdMs }))
      const res = await fetch(`${workerd.url}/hold?params=${params}`, {
        signal: AbortSignal.timeout(120_000),
      })
      const reader = res.body.getReader()
      let text = ''
      let sampled
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
        if (sampled === undefined && text.includes('opened\n')) {
          await sleep(300)
          sampled = sample?.()
        }
      }
      if (!text.includes('released')) throw new Error(`workerd hold: ${text.trim()}`)
      return sampled
    }
    await hold(20, 0) // warm the isolate and the code paths, like the Node clients do
    await sleep(200)
    const before = rssOf(workerd.pid)
    const after = await hold(count, 1500, () => rssOf(workerd.pid))
    if (before === undefined || after === undefined) throw new Error('no /proc RSS')
    return { rssPerSocket: (after - before) / count }
  } finally {
    await workerd.stop()
  }
}

async function socketBench(pki) {
  const scenarios = SCENARIOS.filter((s) => wanted(s.id))
  if (scenarios.length === 0) return []
  const servers = await startServers(pki)
  let workerd
  let peers = PEERS.filter((p) => p.id !== 'workerd' || !values['no-workerd'])
  if (peers.some((p) => p.id === 'workerd') && scenarios.some((s) => s.kind !== 'hold')) {
    try {
      workerd = await startWorkerd({ caPath: pki.caPath })
    } catch (error) {
      notes.push(
        `workerd did not start, so it has no figures: ${String(error.message).slice(0, 200)}`
      )
      peers = peers.filter((p) => p.id !== 'workerd')
    }
  }
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: pki.caPath }
  const rows = []
  try {
    for (const s of scenarios) {
      const params = { ...s.params(quick), port: servers.ports[s.port] }
      const raw = Object.fromEntries(peers.map((p) => [p.id, []]))
      const errors = {}
      for (let i = 0; i < runs; i++) {
        // Interleave the peers run by run (rotating who goes first): drift on a shared machine
        // then hits every peer alike.
        for (let k = 0; k < peers.length; k++) {
          const peer = peers[(i + k) % peers.length].id
          let tls0 = params.tls ? await tlsStats(servers.ports.stats) : undefined
          try {
            let result
            if (peer === 'workerd') {
              result =
                s.kind === 'hold'
                  ? await workerdHold(pki, params.port, params.count)
                  : await workerdRun(workerd, s.kind, params)
            } else {
              const out = await runChild(
                process.execPath,
                [
                  '--expose-gc',
                  join(import.meta.dirname, 'lib', 'client.mjs'),
                  peer,
                  s.kind,
                  JSON.stringify(params),
                ],
                { env, timeoutMs: 180_000 }
              )
              result = JSON.parse(out.trim().split('\n').pop())
            }
            if (params.tls) {
              const now = await tlsStats(servers.ports.stats)
              result.tlsResumed = `${now.resumed - tls0.resumed}/${now.handshakes - tls0.handshakes} (${now.last})`
              tls0 = now
            }
            raw[peer].push(result)
            log(`${s.id} run ${i + 1}/${runs} ${peer}: ${JSON.stringify(result)}`)
          } catch (error) {
            errors[peer] = String(error.message ?? error).slice(0, 300)
            log(`${s.id} run ${i + 1}/${runs} ${peer}: FAILED ${errors[peer]}`)
          }
        }
      }
      const metrics = s.rows ?? [{ metric: undefined, title: s.title, unit: s.unit }]
      for (const m of metrics) {
        const row = {
          id: m.metric ? `${s.id}-${m.metric}` : s.id,
          title: m.title,
          unit: m.unit,
          lowerIsBetter: !!(m.lowerIsBetter ?? s.lowerIsBetter),
          peers: {},
        }
        if (params.tls) {
          row.tlsResumed = Object.fromEntries(
            peers.map((p) => [p.id, raw[p.id].map((r) => r.tlsResumed).join(', ')])
          )
        }
        for (const p of peers) {
          const xs = raw[p.id].map((r) => (m.metric ? r[m.metric] : figureOf(r)))
          const stats = summarize(xs)
          if (stats) row.peers[p.id] = stats
          else if (p.id === 'workerd' && m.metric === 'heapPerSocket')
            row.peers[p.id] = { na: 'workerd exposes no heap figure; see its RSS row' }
          else
            row.peers[p.id] = {
              na: errors[p.id] ? 'failed: see JSON' : 'no result',
              error: errors[p.id],
            }
        }
        rows.push(row)
      }
    }
  } finally {
    await workerd?.stop()
    servers.stop()
  }
  return rows
}

async function poolBench() {
  const ts = join(import.meta.dirname, 'pool', 'run.ts')
  const mjs = join(import.meta.dirname, 'pool', 'run.mjs')
  const file = existsSync(mjs) ? mjs : existsSync(ts) ? ts : undefined
  if (!file) return { na: 'bench/pool/run.mjs is not there' }
  try {
    const mod = file.endsWith('.ts')
      ? await (await import('tsx/esm/api')).tsImport(pathToFileURL(file).href, import.meta.url)
      : await import(pathToFileURL(file).href)
    const run = mod.runPoolBench ?? Object.values(mod).find((f) => typeof f === 'function')
    const out = await run({
      durationS: quick ? 2 : 10,
      // --runs applies here too when given; otherwise 3 (1 with --quick), pgbench runs being long.
      runs: values.runs ? runs : quick ? 1 : 3,
      cacheWarmupS: quick ? 5 : 25,
      farIterations: quick ? 40 : 200,
      log,
    })
    // Older bench/pool/run.ts returned the pgbench rows alone.
    return Array.isArray(out) ? { rows: out } : { rows: out.rows, far: out.far }
  } catch (error) {
    log(`pool bench failed: ${error.stack ?? error}`)
    return {
      na: `failed: ${String(error.message ?? error)
        .split('\n')[0]
        .slice(0, 200)}`,
    }
  }
}

async function hostBench() {
  const file = join(import.meta.dirname, 'host', 'run.mjs')
  if (!existsSync(file)) return { na: 'bench/host/run.mjs is not there' }
  const args = quick ? ['--duration', '3', '--warmup', '1'] : ['--duration', '10', '--warmup', '2']
  try {
    const out = await runChild(process.execPath, [file, ...args], {
      env: process.env,
      timeoutMs: 300_000,
    })
    const rows = []
    const notes = []
    for (const line of out.split('\n')) {
      const m = /^(.+?)\s+(\d+) req\/s\s+p99 (\S+) ms\s+errors (\d+)(?:\s+cpu (\d+) us\/req)?/.exec(
        line
      )
      if (m)
        rows.push({
          name: m[1].trim(),
          rps: Number(m[2]),
          p99: Number(m[3]),
          errors: Number(m[4]),
          ...(m[5] ? { cpuUsPerReq: Number(m[5]) } : {}),
        })
      else if (line.trim()) notes.push(line.trim())
    }
    return { rows, notes }
  } catch (error) {
    return {
      na: `failed: ${String(error.message ?? error)
        .split('\n')[0]
        .slice(0, 200)}`,
    }
  }
}

/** TCP sockets in TIME_WAIT machine-wide (Linux): thousands make every connect() dearer. */
function timeWait() {
  try {
    return Number(/TCP: .*\btw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1])
  } catch {
    return undefined
  }
}

const started = Date.now()
build()
const pki = makePki()
let workerdVersion = 'n/a'
try {
  const { ensureWorkerd } = await import('../scripts/ensure-workerd.mjs')
  workerdVersion = execFileSync(ensureWorkerd(), ['--version'], { encoding: 'utf8' }).trim()
} catch (error) {
  notes.push(`workerd unavailable: ${String(error.message ?? error).slice(0, 200)}`)
}
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
  cwd: ROOT,
  encoding: 'utf8',
}).stdout?.trim()
const result = {
  meta: {
    date: new Date().toISOString(),
    commit: commit || 'unknown',
    mode: quick ? 'quick (smoke sizes, not for comparison)' : 'full',
    runs,
    node: process.version,
    workerd: workerdVersion,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadavg: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    only,
    timeWait: timeWait(),
  },
  sockets: [],
  pool: undefined,
  host: undefined,
  notes,
}
try {
  result.sockets = await socketBench(pki)
  if (result.sockets.length) {
    notes.push(
      'Bulk: MiB/s from the request header to the last byte (receive) or to the server’s ack of the last byte (send); web-stream peers await every write().',
      'Setup: connect → opened (TLS handshake included) → graceful close(), 4 connections at a time; the servers count resumed TLS sessions and show the negotiated suite (below the table).',
      'Per-request socket: what a Worker does on each request: connect(), write 16 bytes without waiting for `opened`, read the echo, close(); 1 or 8 such requests in flight, the whole run timed in one fresh process (raw Node: net.connect, write, read, end + destroy).',
      'Memory: 2,000 sockets opened and idle with a read pending, each Node peer in a fresh process (after gc), workerd as the RSS growth of a fresh workerd process.',
      'Each Node peer runs in its own process per run; workerd times itself inside the Worker (its clock only advances across I/O, so figures are whole milliseconds).'
    )
  }
  if (!values['no-pool'] && (only.length === 0 || wanted('pool'))) result.pool = await poolBench()
  if (!values['no-host'] && (only.length === 0 || wanted('host'))) result.host = await hostBench()
} finally {
  rmSync(pki.dir, { recursive: true, force: true })
}
result.meta.durationS = Math.round((Date.now() - started) / 1000)
result.meta.timeWaitEnd = timeWait()
result.meta.loadavgEnd = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')

const comparison = earlier ? compareTable(result, earlier) : undefined
const md = markdown(result, comparison)
mkdirSync(RESULTS, { recursive: true })
const stamp = result.meta.date.replace(/[:.]/g, '-')
writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(result, null, 2) + '\n')
writeFileSync(join(RESULTS, `${stamp}.json`), JSON.stringify(result, null, 2) + '\n')
writeFileSync(join(RESULTS, 'latest.md'), md)
console.log(md)
log(
  `wrote bench/results/latest.json, bench/results/${stamp}.json and bench/results/latest.md (${result.meta.durationS} s)`
)
if (!(await guard(result))) process.exitCode = 1
