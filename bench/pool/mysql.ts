// The MySQL pooler benchmark (issue 17): Debian's sysbench `oltp_point_select` and
// `oltp_read_only` against MariaDB directly, through `wharf pool` without and with its cache,
// and a hot set (point selects over 1,000 rows, Pareto); then the far-origin scenario: MariaDB
// behind test-support/delay-proxy (10 ms each way) and a Worker-style mysql2 client (connect, one
// query, disconnect) directly, through wharf pool and wharf pool + cache, against the floor of
// one far round trip plus the loopback path. Ratios come from one run, targets interleaved.
//
//   npx tsx bench/pool/mysql.ts [--duration 10] [--runs 2] [--threads 8] [--far 200] [--json]
import { execFile, spawnSync, type ChildProcess } from 'node:child_process'
import { availableParallelism, loadavg } from 'node:os'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { startDelayProxy, type DelayProxy } from '../../test-support/delay-proxy.js'
import { startMariaDb, type MariaDbServer } from '../../test-support/mariadb.js'
import {
  clientCeiling,
  cpuOf,
  cpuOfTree,
  jsonChild,
  reapedChildrenCpu,
  startRelay,
  median,
  spawnWharfPool,
  stats,
  stopChildren,
  waitForPort,
  type Stats,
} from './common.js'

const run = promisify(execFile)

export type MysqlTarget = 'direct' | 'relay' | 'wharf' | 'wharf-2p' | 'wharf+cache'
/** point: oltp_point_select over 10,000 rows; read-only: oltp_read_only (BEGIN … COMMIT);
 * read-only-autocommit: the same statements without the transaction; hot: point selects over
 * ids 1..1,000, Pareto (h = 0.2). */
export type MysqlMode = 'point' | 'read-only' | 'read-only-autocommit' | 'hot'

export interface MysqlBenchRow {
  readonly mode: MysqlMode
  readonly target: MysqlTarget
  /** sysbench transactions per second (a point select is one statement a transaction). */
  readonly tps: Stats
  readonly qps: Stats
  /** CPU of the pooler process per transaction, µs; absent for direct. */
  readonly cpuUsPerTx?: Stats
  /** CPU of MariaDB per transaction, µs (what the cache saves the origin). */
  readonly originCpuUsPerTx?: Stats
  /** CPU of sysbench itself per transaction, µs: on N cores, no target passes N s / this. */
  readonly clientCpuUsPerTx?: Stats
}

export interface MysqlFarRow {
  readonly target: MysqlTarget
  readonly p50: Stats
  readonly p99: Stats
  readonly errors: number
}

export interface MysqlBenchResult {
  readonly loadBefore: number[]
  readonly loadAfter: number[]
  readonly rows: MysqlBenchRow[]
  /** The measuring machine's cores (availableParallelism()), for the client ceiling. */
  readonly cores?: number
  /** Why the relay (HAProxy) row is missing, when it is. */
  readonly relayMissing?: string
  readonly far?: {
    readonly delayMs: number
    readonly iterations: number
    /** p50 of the same client against the near MariaDB, directly. */
    readonly loopbackP50: number
    /** p50 of one query on an open connection through the delay proxy: one far round trip. */
    readonly roundTripP50: number
    /** One far round trip as measured plus the loopback path: what a free pooler would take. */
    readonly floorMs: number
    /** The same with the round trip as configured (2 × delay), which the proxy never quite meets. */
    readonly nominalFloorMs: number
    readonly rows: MysqlFarRow[]
  }
}

const TABLE_SIZE = 10_000
const HOT_ROWS = 1_000

export interface SysbenchRun {
  readonly tps: number
  readonly qps: number
  readonly transactions: number
  readonly errors: number
}

/**
 * Debian's sysbench against one MariaDB (or a pooler in front of it, `port`): `prepare` makes
 * the table (10,000 rows), `run` one mode for `seconds`. Shared with mysql-ab.ts.
 */
export function sysbenchFor(server: MariaDbServer, threads: number) {
  const common = (port: number, password: string): string[] => [
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${port}`,
    `--mysql-user=${server.user}`,
    `--mysql-password=${password}`,
    `--mysql-db=${server.database}`,
    '--mysql-ssl=off',
    '--tables=1',
  ]
  return {
    prepare: () =>
      run(
        'sysbench',
        [
          'oltp_common',
          ...common(server.port, server.password),
          `--table-size=${TABLE_SIZE}`,
          'prepare',
        ],
        { timeout: 300_000 }
      ),
    async run(
      port: number,
      password: string,
      mode: MysqlMode,
      seconds: number
    ): Promise<SysbenchRun> {
      const test = mode === 'point' || mode === 'hot' ? 'oltp_point_select' : 'oltp_read_only'
      const args = [
        test,
        ...common(port, password),
        // The table has 10,000 rows; a smaller --table-size only narrows the ids drawn.
        `--table-size=${mode === 'hot' ? HOT_ROWS : TABLE_SIZE}`,
        `--rand-type=${mode === 'hot' ? 'pareto' : 'uniform'}`,
        ...(mode === 'read-only-autocommit' ? ['--skip_trx=on'] : []),
        `--threads=${threads}`,
        `--time=${seconds}`,
        '--report-interval=0',
        'run',
      ]
      const { stdout } = await run('sysbench', args, { timeout: (seconds + 60) * 1000 })
      const tx = /transactions:\s+(\d+)\s+\(([\d.]+) per sec/.exec(stdout)
      const q = /queries:\s+(\d+)\s+\(([\d.]+) per sec/.exec(stdout)
      const errs = /ignored errors:\s+(\d+)/.exec(stdout)
      if (!tx || !q) throw new Error(`no transactions in sysbench output:\n${stdout}`)
      return {
        tps: Number(tx[2]),
        qps: Number(q[2]),
        transactions: Number(tx[1]),
        errors: Number(errs?.[1] ?? 0),
      }
    },
  }
}

/** MariaDB's own pid (test-support/mariadb.ts writes it next to the data directory). */
export function mariaDbPid(server: MariaDbServer): number {
  return Number(readFileSync(join(dirname(server.dataDir), 'mysqld.pid'), 'utf8').trim())
}

/** The upstream URL of a `wharf pool` in front of `port` (MariaDB, or a proxy to it). */
export function mysqlUpstream(server: MariaDbServer, port = server.port): string {
  return `mysql://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${port}/${server.database}?ssl-mode=DISABLED`
}

interface FarRun {
  readonly p50: number
  readonly p99: number
  readonly n: number
  readonly errors: number
}

export async function runMysqlBench(
  options: {
    durationS?: number
    runs?: number
    threads?: number
    farIterations?: number
    farDelayMs?: number
    log?: (line: string) => void
  } = {}
): Promise<MysqlBenchResult> {
  const duration = options.durationS ?? 10
  const runs = options.runs ?? 2
  const threads = options.threads ?? 8
  const farIterations = options.farIterations ?? 200
  const farDelayMs = options.farDelayMs ?? 10
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'))
  if (spawnSync('sysbench', ['--version']).status !== 0)
    throw new Error('sysbench not found: run scripts/install-system-deps.sh as root')
  const loadBefore = loadavg()
  log(`mysql bench: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`)
  const server = await startMariaDb()
  const children: ChildProcess[] = []
  let proxy: DelayProxy | undefined
  try {
    const bench = sysbenchFor(server, threads)
    log(`mysql bench: MariaDB on ${server.port}; sysbench prepare (${TABLE_SIZE} rows)`)
    await bench.prepare()
    const originPid = mariaDbPid(server)
    const upstream = (port: number): string => mysqlUpstream(server, port)
    const started = async (
      up: string,
      extra: string[]
    ): Promise<{ port: number; pid: () => number | undefined }> => {
      const p = await spawnWharfPool(up, extra)
      children.push(p.child)
      return { port: p.port, pid: () => p.child.pid }
    }
    const pool = await started(upstream(server.port), ['--no-cache'])
    const group = await started(upstream(server.port), ['--no-cache', '--processes', '2'])
    const cached = await started(upstream(server.port), [])
    await Promise.all([pool.port, group.port, cached.port].map((p) => waitForPort(p)))
    const relay = await startRelay(server.port)
    if ('child' in relay) children.push(relay.child)
    else log(`mysql bench: no relay row: ${relay.missing}`)
    // wharf pool runs with trust auth on loopback: the origin's user, no password.
    const targets: {
      target: MysqlTarget
      port: number
      password: string
      cpu: () => number | undefined
    }[] = [
      { target: 'direct', port: server.port, password: server.password, cpu: () => undefined },
      ...('child' in relay
        ? [
            {
              target: 'relay' as const,
              port: relay.port,
              password: server.password,
              cpu: () => cpuOf(relay.child.pid),
            },
          ]
        : []),
      { target: 'wharf', port: pool.port, password: '', cpu: () => cpuOf(pool.pid()) },
      // The primary and its two workers.
      { target: 'wharf-2p', port: group.port, password: '', cpu: () => cpuOfTree(group.pid()) },
    ]
    const cachedTarget = {
      target: 'wharf+cache' as const,
      port: cached.port,
      password: '',
      cpu: () => cpuOf(cached.pid()),
    }
    targets.push(cachedTarget)

    const sysbench = async (
      t: (typeof targets)[number],
      mode: MysqlMode,
      seconds: number
    ): Promise<SysbenchRun> => {
      const r = await bench.run(t.port, t.password, mode, seconds)
      if (r.errors > 0) log(`mysql bench: ${t.target} ${mode}: ${r.errors} errors`)
      return r
    }

    // Warm every pool, the JIT and the cache (10,000 keys of point selects) before measuring.
    for (const t of targets) await sysbench(t, 'point', Math.min(5, duration))
    await sysbench(cachedTarget, 'point', Math.max(10, duration))
    const modes: MysqlMode[] = ['point', 'read-only', 'read-only-autocommit', 'hot']
    const rows: MysqlBenchRow[] = []
    for (const mode of modes) {
      if (mode !== 'point') await sysbench(cachedTarget, mode, Math.min(5, duration))
      const tps = new Map<string, number[]>()
      const qps = new Map<string, number[]>()
      const cpus = new Map<string, number[]>()
      const originCpus = new Map<string, number[]>()
      const clientCpus = new Map<string, number[]>()
      for (let i = 0; i < runs; i++) {
        for (const t of targets) {
          const cpu0 = t.cpu()
          const origin0 = cpuOf(originPid)
          const client0 = reapedChildrenCpu()
          const r = await sysbench(t, mode, duration)
          const cpu1 = t.cpu()
          const origin1 = cpuOf(originPid)
          const client1 = reapedChildrenCpu()
          if (r.transactions > 0) {
            const per = (client1 - client0) / r.transactions
            clientCpus.set(t.target, [...(clientCpus.get(t.target) ?? []), per])
          }
          tps.set(t.target, [...(tps.get(t.target) ?? []), r.tps])
          qps.set(t.target, [...(qps.get(t.target) ?? []), r.qps])
          let note = ''
          if (cpu0 !== undefined && cpu1 !== undefined && r.transactions > 0) {
            const per = (cpu1 - cpu0) / r.transactions
            cpus.set(t.target, [...(cpus.get(t.target) ?? []), per])
            note = `, pooler CPU ${per.toFixed(1)} µs/transaction`
          }
          if (origin0 !== undefined && origin1 !== undefined && r.transactions > 0) {
            const per = (origin1 - origin0) / r.transactions
            originCpus.set(t.target, [...(originCpus.get(t.target) ?? []), per])
            note += `, MariaDB CPU ${per.toFixed(1)} µs/transaction`
          }
          log(
            `mysql bench: ${t.target} ${mode} run ${i + 1}/${runs}: ${r.tps.toFixed(0)} tps, ${r.qps.toFixed(0)} qps${note} (load ${loadavg()[0]?.toFixed(2)})`
          )
        }
      }
      for (const t of targets) {
        const c = cpus.get(t.target)
        const o = originCpus.get(t.target)
        const k = clientCpus.get(t.target)
        rows.push({
          mode,
          target: t.target,
          tps: stats(tps.get(t.target) ?? []),
          qps: stats(qps.get(t.target) ?? []),
          ...(c?.length ? { cpuUsPerTx: stats(c) } : {}),
          ...(o?.length ? { originCpuUsPerTx: stats(o) } : {}),
          ...(k?.length ? { clientCpuUsPerTx: stats(k) } : {}),
        })
      }
    }

    let far: MysqlBenchResult['far']
    if (farIterations > 0) {
      proxy = await startDelayProxy({ upstreamPort: server.port, delayMs: farDelayMs })
      const farPool = await started(upstream(proxy.port), ['--no-cache'])
      const farCache = await started(upstream(proxy.port), [])
      await Promise.all([farPool.port, farCache.port].map((p) => waitForPort(p)))
      const farTargets = [
        { target: 'direct', port: proxy.port, password: server.password },
        { target: 'wharf', port: farPool.port, password: '' },
        { target: 'wharf+cache', port: farCache.port, password: '' },
      ] as const
      const keys = Math.min(100, farIterations)
      const client = (
        port: number,
        password: string,
        warmup: number,
        iterations: number,
        persistent = false
      ): Promise<FarRun> =>
        jsonChild<FarRun>(
          join(import.meta.dirname, 'far-client.mjs'),
          {
            driver: 'mysql',
            port,
            user: server.user,
            password,
            database: server.database,
            iterations,
            warmup,
            keys,
            persistent,
          },
          (warmup + iterations) * 500 + 30_000
        )
      const loopback: number[] = []
      const roundTrips: number[] = []
      const p50s = new Map<string, number[]>()
      const p99s = new Map<string, number[]>()
      const errors = new Map<string, number>()
      for (let i = 0; i < runs; i++) {
        loopback.push(
          (await client(server.port, server.password, i === 0 ? 20 : 0, farIterations)).p50
        )
        roundTrips.push((await client(proxy.port, server.password, 5, 100, true)).p50)
        for (const t of farTargets) {
          const warm = i > 0 ? 0 : t.target === 'direct' ? 5 : keys
          const r = await client(t.port, t.password, warm, farIterations)
          p50s.set(t.target, [...(p50s.get(t.target) ?? []), r.p50])
          p99s.set(t.target, [...(p99s.get(t.target) ?? []), r.p99])
          errors.set(t.target, (errors.get(t.target) ?? 0) + r.errors)
          log(
            `mysql bench: far ${t.target} run ${i + 1}/${runs}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.n} requests, ${r.errors} errors)`
          )
        }
      }
      const loopbackP50 = median(loopback)
      const roundTripP50 = median(roundTrips)
      far = {
        delayMs: farDelayMs,
        iterations: farIterations,
        loopbackP50,
        roundTripP50,
        floorMs: roundTripP50 + loopbackP50,
        nominalFloorMs: 2 * farDelayMs + loopbackP50,
        rows: farTargets.map((t) => ({
          target: t.target,
          p50: stats(p50s.get(t.target) ?? []),
          p99: stats(p99s.get(t.target) ?? []),
          errors: errors.get(t.target) ?? 0,
        })),
      }
    }
    const loadAfter = loadavg()
    log(`mysql bench: load average ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`)
    return {
      loadBefore,
      loadAfter,
      rows,
      cores: availableParallelism(),
      ...('missing' in relay ? { relayMissing: relay.missing } : {}),
      ...(far ? { far } : {}),
    }
  } finally {
    await stopChildren(children)
    await proxy?.close()
    await server.stop()
  }
}

export function formatMysqlTable(result: MysqlBenchResult): string {
  const get = (target: MysqlTarget, mode: MysqlMode): MysqlBenchRow | undefined =>
    result.rows.find((r) => r.target === target && r.mode === mode)
  const cell = (r: MysqlBenchRow | undefined): string =>
    r ? `${r.tps.median.toFixed(0)} (${r.tps.min.toFixed(0)}–${r.tps.max.toFixed(0)})` : 'n/a'
  const ratio = (a: MysqlBenchRow | undefined, b: MysqlBenchRow | undefined): string =>
    a && b && b.tps.median > 0 ? `${(a.tps.median / b.tps.median).toFixed(2)}x` : 'n/a'
  const labels: Record<MysqlMode, string> = {
    point: 'oltp_point_select (10,000 rows)',
    'read-only': 'oltp_read_only',
    'read-only-autocommit': 'oltp_read_only --skip_trx',
    hot: 'point select, hot set (1,000 rows, Pareto)',
  }
  const lines = [
    `load average ${result.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${result.loadAfter.map((l) => l.toFixed(2)).join(' ')} after`,
    '',
    '| sysbench TPS | direct | relay (HAProxy) | wharf pool | wharf pool, 2 processes | wharf pool + cache | relay / direct | pool / direct | pool / relay | 2 processes / direct | cache / direct |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const mode of Object.keys(labels) as MysqlMode[]) {
    const d = get('direct', mode)
    const relay = get('relay', mode)
    const pool = get('wharf', mode)
    const group = get('wharf-2p', mode)
    const cached = get('wharf+cache', mode)
    lines.push(
      `| ${labels[mode]} | ${cell(d)} | ${cell(relay)} | ${cell(pool)} | ${cell(group)} | ${cell(cached)} | ${ratio(relay, d)} | ${ratio(pool, d)} | ${ratio(pool, relay)} | ${ratio(group, d)} | ${ratio(cached, d)} |`
    )
  }
  if (result.relayMissing) lines.push('', `No relay column: ${result.relayMissing}.`)
  const us = (
    r: MysqlBenchRow | undefined,
    key: 'cpuUsPerTx' | 'originCpuUsPerTx' | 'clientCpuUsPerTx'
  ): string => (r?.[key] ? r[key].median.toFixed(0) : '-')
  lines.push(
    '',
    'Goals: pool >= 0.8x direct (persistent connections); cache >= 2x direct on the hot set.',
    'The relay (HAProxy, TCP mode, one thread) copies bytes and does nothing else: no proxy in the path can pass its column on this machine.',
    '',
    '| CPU µs per transaction (median): proxy / MariaDB / sysbench | direct | relay | wharf pool | wharf pool, 2 processes | wharf pool + cache |',
    '|---|---|---|---|---|---|'
  )
  const targets: MysqlTarget[] = ['direct', 'relay', 'wharf', 'wharf-2p', 'wharf+cache']
  for (const mode of Object.keys(labels) as MysqlMode[]) {
    const cpu = (t: MysqlTarget): string =>
      `${us(get(t, mode), 'cpuUsPerTx')} / ${us(get(t, mode), 'originCpuUsPerTx')} / ${us(get(t, mode), 'clientCpuUsPerTx')}`
    lines.push(`| ${labels[mode]} | ${targets.map(cpu).join(' | ')} |`)
  }
  // What sysbench's own CPU leaves for the cache. The least a server answering from memory does
  // is one read and one write a transaction: half of what the relay (two of each) spends.
  const hotDirect = get('direct', 'hot')
  const client = get('wharf+cache', 'hot')?.clientCpuUsPerTx?.median
  const relayCpu = get('relay', 'hot')?.cpuUsPerTx?.median
  if (client && hotDirect && result.cores) {
    const ceiling = clientCeiling({
      client: 'sysbench',
      clientUs: client,
      cores: result.cores,
      directTps: hotDirect.tps.median,
      ...(relayCpu
        ? { least: { what: `half the relay's ${relayCpu.toFixed(1)} µs`, us: relayCpu / 2 } }
        : {}),
    })
    lines.push('', `Client ceiling, hot set: ${ceiling}.`)
  }
  const far = result.far
  if (far) {
    lines.push(
      '',
      `Far origin (${far.delayMs} ms each way), connect + one query, ms; floor ${far.floorMs.toFixed(2)} (one round trip through the proxy, measured ${far.roundTripP50.toFixed(2)}, + loopback ${far.loopbackP50.toFixed(2)}; with the nominal ${2 * far.delayMs} ms: ${far.nominalFloorMs.toFixed(2)}); goal: uncached pool p50 <= 1.1x floor:`,
      ''
    )
    for (const r of far.rows)
      lines.push(
        `- ${r.target}: p50 ${r.p50.median.toFixed(2)} (${(r.p50.median / far.floorMs).toFixed(2)}x floor, ${(r.p50.median / far.nominalFloorMs).toFixed(2)}x nominal), p99 ${r.p99.median.toFixed(2)}, errors ${r.errors}`
      )
  }
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      runs: { type: 'string', default: '2' },
      threads: { type: 'string', default: '8' },
      far: { type: 'string', default: '200' },
      json: { type: 'boolean' },
    },
  })
  const result = await runMysqlBench({
    durationS: Number(values.duration),
    runs: Number(values.runs),
    threads: Number(values.threads),
    farIterations: Number(values.far),
  })
  console.log(values.json === true ? JSON.stringify(result, null, 2) : formatMysqlTable(result))
}
