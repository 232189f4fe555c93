// Paired A/B of `wharf pool` builds against one MariaDB (issue 17's cost per statement): each
// round runs sysbench against MariaDB directly and through every variant (a checkout with a
// built packages/host, e.g. a copy of main), alternating, and prints per sysbench transaction the
// CPU of the pooler and of MariaDB (/proc) and the deltas of MariaDB's own counters
// (`SHOW GLOBAL STATUS`: prepares, executes, closes, resets, schema changes, questions). The
// counters say what the origin was asked to do, which is what CPU per statement follows.
//
//   npx tsx bench/pool/mysql-ab.ts --variant base=/tmp/wharf-base --variant new=. \
//     [--modes point,read-only,hot] [--runs 3] [--duration 5] [--threads 8] [--cache]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { startMariaDb } from '../../test-support/mariadb.js'
import { cpuOf, loadText, median, spawnWharfPool, stopChildren, waitForPort } from './common.js'
import { mariaDbPid, mysqlUpstream, sysbenchFor, type MysqlMode } from './mysql.js'

const COUNTERS = [
  'Questions',
  'Com_stmt_prepare',
  'Com_stmt_execute',
  'Com_stmt_close',
  'Com_stmt_reprepare',
  'Com_reset_connection',
  'Com_change_db',
  'Com_select',
  'Com_begin',
  'Com_commit',
  'Connections',
  'Bytes_received',
  'Bytes_sent',
] as const

const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    modes: { type: 'string', default: 'point,read-only,hot' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    threads: { type: 'string', default: '8' },
    cache: { type: 'boolean', default: false },
    'max-connections': { type: 'string', default: '20' },
    /** Also count MariaDB's system calls per transaction (strace -c; slows everything). */
    strace: { type: 'boolean', default: false },
  },
})
const variants = values.variant.map((v) => {
  const at = v.indexOf('=')
  if (at <= 0) throw new Error(`--variant NAME=CHECKOUT (got ${v})`)
  return { name: v.slice(0, at), root: resolve(v.slice(at + 1)) }
})
const modes = values.modes.split(',') as MysqlMode[]
const runs = Number(values.runs)
const duration = Number(values.duration)
const threads = Number(values.threads)
if (spawnSync('sysbench', ['--version']).status !== 0) throw new Error('sysbench not found')

const log = (line: string): void => void process.stderr.write(line + '\n')
const load = loadText
log(`mysql-ab: load average ${load()}`)

/** `strace -c -f` attached to a process until stopped: calls by name. */
function straceOf(pid: number): { stop(): Promise<Map<string, number>> } {
  const child = spawn('strace', ['-c', '-f', '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr.on('data', (c: Buffer) => {
    if (err.length < 100_000) err += c.toString()
  })
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          const calls = new Map<string, number>()
          for (const line of err.split('\n')) {
            const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line)
            if (m?.[2] && m[2] !== 'total') calls.set(m[2], Number(m[1]))
          }
          resolve(calls)
        })
        child.kill('SIGINT')
      }),
  }
}

const server = await startMariaDb()
const children: ChildProcess[] = []
try {
  const bench = sysbenchFor(server, threads)
  await bench.prepare()
  const originPid = mariaDbPid(server)
  const upstream = mysqlUpstream(server)
  const targets: { name: string; port: number; password: string; pid?: number }[] = [
    { name: 'direct', port: server.port, password: server.password },
  ]
  for (const v of variants) {
    const { port, child } = await spawnWharfPool(upstream, values.cache ? [] : ['--no-cache'], {
      wharf: join(v.root, 'packages', 'host', 'bin', 'wharf.js'),
      maxConnections: Number(values['max-connections']),
    })
    children.push(child)
    await waitForPort(port)
    targets.push({ name: v.name, port, password: '', ...(child.pid ? { pid: child.pid } : {}) })
  }

  const counters = (): Map<string, number> => {
    const out = server.sql(
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${COUNTERS.map((c) => `'${c}'`).join(',')})`
    )
    const m = new Map<string, number>()
    for (const line of out.split('\n')) {
      const [k, v] = line.split('\t')
      if (k) m.set(k, Number(v))
    }
    return m
  }

  const sysbench = (port: number, password: string, mode: MysqlMode, seconds: number) =>
    bench.run(port, password, mode, seconds)

  // Warm-up: every pool opens its connections, the JIT settles.
  for (const t of targets) await sysbench(t.port, t.password, 'point', 3)

  interface Row {
    tps: number[]
    cpu: number[]
    origin: number[]
    c: Map<string, number[]>
  }
  const newRow = (): Row => ({ tps: [], cpu: [], origin: [], c: new Map() })
  const summary: string[] = []
  for (const mode of modes) {
    const rows = new Map<string, Row>()
    for (let i = 0; i < runs; i++) {
      // Alternate the order run by run, so neither variant always runs first.
      const order = i % 2 === 0 ? targets : [...targets].reverse()
      for (const t of order) {
        const c0 = counters()
        const p0 = cpuOf(t.pid)
        const o0 = cpuOf(originPid)
        const tracer = values.strace ? straceOf(originPid) : undefined
        const r = await sysbench(t.port, t.password, mode, duration)
        const traced = tracer ? await tracer.stop() : undefined
        const p1 = cpuOf(t.pid)
        const o1 = cpuOf(originPid)
        const c1 = counters()
        const row = rows.get(t.name) ?? newRow()
        rows.set(t.name, row)
        row.tps.push(r.tps)
        if (p0 !== undefined && p1 !== undefined) row.cpu.push((p1 - p0) / r.transactions)
        if (o0 !== undefined && o1 !== undefined) row.origin.push((o1 - o0) / r.transactions)
        const deltas: string[] = []
        for (const k of COUNTERS) {
          const d = ((c1.get(k) ?? 0) - (c0.get(k) ?? 0)) / r.transactions
          row.c.set(k, [...(row.c.get(k) ?? []), d])
          if (d >= 0.005) deltas.push(`${k}=${d.toFixed(2)}`)
        }
        log(
          `${mode} ${t.name} run ${i + 1}: ${r.tps.toFixed(0)} tps, pooler ${row.cpu.at(-1)?.toFixed(1) ?? '-'} µs/tx, MariaDB ${row.origin.at(-1)?.toFixed(1) ?? '-'} µs/tx; per tx: ${deltas.join(' ')} (load ${load()})`
        )
        if (traced)
          log(
            `  MariaDB system calls per tx: ${[...traced]
              .map(([name, n]) => [name, n / r.transactions] as const)
              .filter(([, n]) => n >= 0.01)
              .sort((a, b) => b[1] - a[1])
              .map(([name, n]) => `${name}=${n.toFixed(2)}`)
              .join(' ')}`
          )
      }
    }
    for (const t of targets) {
      const row = rows.get(t.name)
      if (!row) continue
      const per = COUNTERS.map((k) => `${k}=${median(row.c.get(k) ?? []).toFixed(2)}`)
        .filter((s) => !s.endsWith('=0.00'))
        .join(' ')
      summary.push(
        `${mode} ${t.name}: median ${median(row.tps).toFixed(0)} tps, pooler ${row.cpu.length ? median(row.cpu).toFixed(1) : '-'} µs/tx, MariaDB ${median(row.origin).toFixed(1)} µs/tx; ${per}`
      )
    }
  }
  log(`mysql-ab: load average ${load()}`)
  console.log(summary.join('\n'))
} finally {
  await stopChildren(children)
  await server.stop()
}
