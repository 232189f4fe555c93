// Pooler benchmark: pgbench -S for N seconds each, direct to PostgreSQL, through PgBouncer (the
// Debian package, transaction mode), through `wharf pool` without and with its cache, and the
// same with -C (a new connection per transaction, trust auth); then a hot set (a pgbench script
// drawing from 1,000 rows with a Zipfian skew, the way Hyperdrive's users read); then the
// far-origin scenario: PostgreSQL behind test-support/delay-proxy (10 ms each way) and a
// Worker-style client (connect, one query, disconnect, over and over) directly, through
// PgBouncer, wharf pool and wharf pool + cache, with p50/p99 against the floor. Each server runs
// in its own process; everything listens on 127.0.0.1.
//
//   npx tsx bench/pool/run.ts [--duration 10] [--runs 3] [--clients 8] [--far 200] [--json]
//
// `runPoolBench()` is exported for the combined report (bench/run.mjs).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { startDelayProxy, type DelayProxy } from '../../test-support/delay-proxy.js'
import { startPostgres } from '../../test-support/postgres.js'
import { freePort } from '../../test-support/servers.js'
import {
  cpuOf,
  clientCeiling,
  cpuOfTree,
  jsonChild,
  reapedChildrenCpu,
  median,
  spawnWharfPool,
  stats,
  stopChildren,
  waitForPort,
  type Stats,
} from './common.js'

export type { Stats }
const run = promisify(execFile)

export type PoolTarget = 'direct' | 'pgbouncer' | 'wharf' | 'wharf-2p' | 'wharf+cache'

export interface PoolBenchRow {
  readonly name: string
  readonly target: PoolTarget
  /** `select`: pgbench -S (100,000 rows, uniform); `hot`: the 1,000-row Zipfian script. */
  readonly scenario: 'select' | 'hot'
  readonly connectPerTransaction: boolean
  readonly tps: Stats
  /**
   * CPU of the pooler (user + system) per transaction, µs; absent for direct. For `wharf-2p`
   * (`--processes 2`), the primary's and both workers' together.
   */
  readonly cpuUsPerTx?: Stats
  /** CPU of pgbench itself per transaction, µs: on N cores, no target passes N s / this. */
  readonly clientCpuUsPerTx?: Stats
}

/** One target of the far-origin scenario: latency of connect → one query's result, in ms. */
export interface FarRow {
  readonly target: PoolTarget
  readonly p50: Stats
  readonly p99: Stats
  readonly errors: number
}

export interface FarResult {
  readonly delayMs: number
  readonly iterations: number
  /** p50 of the same client on loopback (client → PgBouncer → a near PostgreSQL). */
  readonly loopbackP50: number
  /** The uncached floor: one far round trip plus the loopback path. */
  readonly floorMs: number
  readonly rows: FarRow[]
}

export interface PoolBenchResult {
  readonly rows: PoolBenchRow[]
  /** The measuring machine's cores (availableParallelism()), for the client ceiling. */
  readonly cores?: number
  readonly far?: FarResult | { readonly na: string }
}

export interface PoolBenchOptions {
  readonly durationS?: number
  readonly runs?: number
  readonly clients?: number
  /** Seconds of pgbench before measuring the cached pooler (default 25; entries live 60 s). */
  readonly cacheWarmupS?: number
  /** Measured requests per target in the far-origin scenario (default 200; 0 leaves it out). */
  readonly farIterations?: number
  /** One-way delay of the far origin (default 10 ms). */
  readonly farDelayMs?: number
  readonly log?: (line: string) => void
}

/** The hot set: 1,000 rows, Zipfian (s = 1.1), the statement text pgbench -S uses. */
const HOT_SCRIPT =
  '\\set aid random_zipfian(1, 1000, 1.1)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n'

interface Servers {
  readonly children: ChildProcess[]
  readonly pidFiles: string[]
  /** The pooler process listening on a port (to read its CPU). */
  readonly pidOf: Map<number, () => number | undefined>
  /** Ports whose pooler is a process group: its CPU is the whole tree's. */
  readonly treeCpu: Set<number>
}

/** PgBouncer's own pid (it writes it once started; runuser sits between us and it). */
function pidFromFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 1 ? pid : undefined
  } catch {
    return undefined
  }
}

/** PgBouncer (transaction mode, pool 20) in front of 127.0.0.1:`upstreamPort`. */
async function startBouncer(
  servers: Servers,
  dir: string,
  name: string,
  upstreamPort: number,
  user: string,
  database: string
): Promise<number> {
  const port = await freePort()
  const base = join(dir, name)
  writeFileSync(`${base}.users`, `"${user}" ""\n`)
  writeFileSync(
    `${base}.ini`,
    [
      '[databases]',
      `${database} = host=127.0.0.1 port=${upstreamPort} dbname=${database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${base}.users`,
      'pool_mode = transaction',
      'max_client_conn = 1000',
      'default_pool_size = 20',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${base}.log`,
      `pidfile = ${base}.pid`,
    ].join('\n') + '\n'
  )
  servers.pidFiles.push(`${base}.pid`)
  servers.pidOf.set(port, () => pidFromFile(`${base}.pid`))
  // PgBouncer refuses to run as root: as the postgres user when we are root.
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout)
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout)
    for (const f of [dir, `${base}.users`, `${base}.ini`]) chownSync(f, uid, gid)
  }
  servers.children.push(
    asRoot
      ? spawn('runuser', ['-u', 'postgres', '--', '/usr/sbin/pgbouncer', `${base}.ini`], {
          stdio: 'ignore',
        })
      : spawn('/usr/sbin/pgbouncer', [`${base}.ini`], { stdio: 'ignore' })
  )
  return port
}

/** `wharf pool` in its own process (or processes), stopped with the rest. */
async function startWharfPool(
  servers: Servers,
  upstream: string,
  extra: readonly string[]
): Promise<number> {
  const { port, child } = await spawnWharfPool(upstream, extra)
  servers.children.push(child)
  servers.pidOf.set(port, () => child.pid)
  if (extra.includes('--processes')) servers.treeCpu.add(port)
  return port
}

async function stopServers(servers: Servers): Promise<void> {
  for (const c of servers.children) c.kill('SIGTERM')
  // runuser may not pass SIGTERM on: stop PgBouncer by the pid it wrote.
  for (const f of servers.pidFiles) {
    try {
      const pid = Number(readFileSync(f, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGTERM')
    } catch {
      // not started, or already gone
    }
  }
  await stopChildren(servers.children)
}

/** Runs the far-origin client in a fresh process; resolves its JSON line. */
const farClient = (params: Record<string, unknown>, timeoutMs: number): Promise<FarRun> =>
  jsonChild<FarRun>(join(import.meta.dirname, 'far-client.mjs'), params, timeoutMs)

interface FarRun {
  readonly p50: number
  readonly p99: number
  readonly n: number
  readonly errors: number
}

export async function runPoolBench(options: PoolBenchOptions = {}): Promise<PoolBenchResult> {
  const duration = options.durationS ?? 10
  const runs = options.runs ?? 3
  const clients = options.clients ?? 8
  const cacheWarmupS = options.cacheWarmupS ?? 25
  const farIterations = options.farIterations ?? 200
  const farDelayMs = options.farDelayMs ?? 10
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'))
  if (spawnSync('pgbench', ['--version']).status !== 0)
    throw new Error('pgbench not found: run scripts/install-system-deps.sh as root')
  const server = await startPostgres({ auth: 'trust' })
  const servers: Servers = { children: [], pidFiles: [], pidOf: new Map(), treeCpu: new Set() }
  const dir = mkdtempSync(join(tmpdir(), 'wharf-poolbench-'))
  let proxy: DelayProxy | undefined
  try {
    log(`pool bench: PostgreSQL on ${server.port}; pgbench -i -s 1`)
    await run('pgbench', [
      '-i',
      '-s',
      '1',
      '-q',
      '-h',
      '127.0.0.1',
      '-p',
      String(server.port),
      '-U',
      server.user,
      server.database,
    ])
    writeFileSync(join(dir, 'hot.sql'), HOT_SCRIPT)

    const upstreamOf = (port: number): string =>
      `postgres://${server.user}@127.0.0.1:${port}/${server.database}?sslmode=disable`
    const bouncerPort = await startBouncer(
      servers,
      dir,
      'near',
      server.port,
      server.user,
      server.database
    )
    const wharfPort = await startWharfPool(servers, upstreamOf(server.port), ['--no-cache'])
    const groupPort = await startWharfPool(servers, upstreamOf(server.port), [
      '--no-cache',
      '--processes',
      '2',
    ])
    const cachePort = await startWharfPool(servers, upstreamOf(server.port), [])
    await Promise.all([bouncerPort, wharfPort, groupPort, cachePort].map((p) => waitForPort(p)))

    const targets = [
      { target: 'direct', port: server.port },
      { target: 'pgbouncer', port: bouncerPort },
      { target: 'wharf', port: wharfPort },
      { target: 'wharf-2p', port: groupPort },
      { target: 'wharf+cache', port: cachePort },
    ] as const
    const pgbench = async (
      port: number,
      mode: 'select' | 'select-connect' | 'hot',
      seconds: number
    ): Promise<{ tps: number; transactions: number }> => {
      const args = [
        '-n',
        ...(mode === 'hot' ? ['-f', join(dir, 'hot.sql')] : ['-S']),
        '-c',
        String(clients),
        '-j',
        '2',
        '-T',
        String(seconds),
        ...(mode === 'select-connect' ? ['-C'] : []),
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        server.user,
        server.database,
      ]
      const { stdout } = await run('pgbench', args, { timeout: (seconds + 60) * 1000 })
      const m = /tps = ([\d.]+) \((?:including|without)/.exec(stdout)
      if (!m) throw new Error(`no tps in pgbench output:\n${stdout}`)
      const tx = /number of transactions actually processed: (\d+)/.exec(stdout)
      return { tps: Number(m[1]), transactions: Number(tx?.[1] ?? NaN) }
    }
    // Warm every pool (and the JIT) once, so the measured runs see steady state. The cache gets
    // longer: pgbench -S draws from 100,000 accounts, and a cache only helps once it holds them.
    for (const t of targets) await pgbench(t.port, 'select', Math.min(5, duration))
    log(`pool bench: filling the cache for ${cacheWarmupS} s`)
    await pgbench(cachePort, 'select', cacheWarmupS)
    const rows: PoolBenchRow[] = []
    for (const mode of ['select', 'select-connect', 'hot'] as const) {
      // The hot set is 1,000 rows: a few seconds fill the cache.
      if (mode === 'hot') await pgbench(cachePort, 'hot', Math.min(5, duration))
      const results = new Map<string, number[]>()
      const cpus = new Map<string, number[]>()
      const clientCpus = new Map<string, number[]>()
      // Interleave targets run by run: drift on a shared machine hits every target alike.
      for (let i = 0; i < runs; i++) {
        for (const t of targets) {
          // The pooler's own CPU per transaction: steadier than TPS while other jobs load the
          // cores (PostgreSQL's and pgbench's CPU are not counted).
          const pid = servers.pidOf.get(t.port)?.()
          const cpuNow = servers.treeCpu.has(t.port) ? cpuOfTree : cpuOf
          const cpu0 = cpuNow(pid)
          const client0 = reapedChildrenCpu()
          const { tps, transactions } = await pgbench(t.port, mode, duration)
          const cpu1 = cpuNow(pid)
          if (transactions > 0) {
            const perTx = (reapedChildrenCpu() - client0) / transactions
            clientCpus.set(t.target, [...(clientCpus.get(t.target) ?? []), perTx])
          }
          results.set(t.target, [...(results.get(t.target) ?? []), tps])
          let cpuNote = ''
          if (cpu0 !== undefined && cpu1 !== undefined && transactions > 0) {
            const perTx = (cpu1 - cpu0) / transactions
            cpus.set(t.target, [...(cpus.get(t.target) ?? []), perTx])
            cpuNote = `, pooler CPU ${perTx.toFixed(1)} µs/transaction`
          }
          log(
            `pool bench: ${t.target} ${mode} run ${i + 1}/${runs}: ${tps.toFixed(0)} tps${cpuNote}, load ${loadavg()[0]?.toFixed(2)}`
          )
        }
      }
      for (const t of targets) {
        const what =
          mode === 'hot'
            ? `-f hot-set (1,000 rows, Zipfian 1.1)`
            : `-S${mode === 'select' ? '' : ' -C'}`
        rows.push({
          name: `pgbench ${what} -c ${clients} -j 2, ${t.target}`,
          target: t.target,
          scenario: mode === 'hot' ? 'hot' : 'select',
          connectPerTransaction: mode === 'select-connect',
          tps: stats(results.get(t.target) ?? []),
          ...(cpus.get(t.target)?.length ? { cpuUsPerTx: stats(cpus.get(t.target) ?? []) } : {}),
          ...(clientCpus.get(t.target)?.length
            ? { clientCpuUsPerTx: stats(clientCpus.get(t.target) ?? []) }
            : {}),
        })
      }
    }

    let far: PoolBenchResult['far']
    if (farIterations > 0) {
      try {
        proxy = await startDelayProxy({ upstreamPort: server.port, delayMs: farDelayMs })
        const farBouncer = await startBouncer(
          servers,
          dir,
          'far',
          proxy.port,
          server.user,
          server.database
        )
        const farWharf = await startWharfPool(servers, upstreamOf(proxy.port), ['--no-cache'])
        const farCache = await startWharfPool(servers, upstreamOf(proxy.port), [])
        await Promise.all([farBouncer, farWharf, farCache].map((p) => waitForPort(p)))
        const farTargets = [
          { target: 'direct', port: proxy.port },
          { target: 'pgbouncer', port: farBouncer },
          { target: 'wharf', port: farWharf },
          { target: 'wharf+cache', port: farCache },
        ] as const
        const keys = Math.min(100, farIterations)
        const client = (port: number, warmup: number, iterations: number): Promise<FarRun> =>
          farClient(
            { port, user: server.user, database: server.database, iterations, warmup, keys },
            // 500 ms per request is far above any target's figure: a stuck run ends.
            (warmup + iterations) * 500 + 30_000
          )
        const loopback: number[] = []
        const p50s = new Map<string, number[]>()
        const p99s = new Map<string, number[]>()
        const errors = new Map<string, number>()
        for (let i = 0; i < runs; i++) {
          // The loopback path: the same client against PgBouncer next to a near PostgreSQL.
          loopback.push((await client(bouncerPort, i === 0 ? 20 : 0, farIterations)).p50)
          for (const t of farTargets) {
            // The pools warm their origin connections (and the cache its keys) on the first run.
            const warm = i > 0 ? 0 : t.target === 'direct' ? 5 : keys
            const r = await client(t.port, warm, farIterations)
            p50s.set(t.target, [...(p50s.get(t.target) ?? []), r.p50])
            p99s.set(t.target, [...(p99s.get(t.target) ?? []), r.p99])
            errors.set(t.target, (errors.get(t.target) ?? 0) + r.errors)
            log(
              `pool bench: far ${t.target} run ${i + 1}/${runs}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.n} requests, ${r.errors} errors)`
            )
          }
        }
        const loopbackP50 = median(loopback)
        far = {
          delayMs: farDelayMs,
          iterations: farIterations,
          loopbackP50,
          floorMs: 2 * farDelayMs + loopbackP50,
          rows: farTargets.map((t) => ({
            target: t.target,
            p50: stats(p50s.get(t.target) ?? []),
            p99: stats(p99s.get(t.target) ?? []),
            errors: errors.get(t.target) ?? 0,
          })),
        }
      } catch (error) {
        log(
          `pool bench: far origin failed: ${error instanceof Error ? error.stack : String(error)}`
        )
        far = {
          na: `failed: ${String(error instanceof Error ? error.message : error).slice(0, 200)}`,
        }
      }
    }
    return { rows, cores: availableParallelism(), far }
  } finally {
    await stopServers(servers)
    await proxy?.close()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function formatPoolTable(result: PoolBenchResult): string {
  const { rows } = result
  const get = (target: string, mode: string): number =>
    rows.find((r) => r.target === target && modeOf(r) === mode)?.tps.median ?? NaN
  const lines = [
    '| run | direct | PgBouncer | wharf pool | wharf pool, 2 processes | wharf pool + cache |',
    '|---|---|---|---|---|---|',
  ]
  const cpuLines = [
    '',
    'Pooler CPU per transaction (user + system, µs, median; 2 processes: all three together):',
    '',
    '| run | PgBouncer | wharf pool | wharf pool, 2 processes | wharf pool + cache |',
    '|---|---|---|---|---|',
  ]
  for (const [mode, label] of [
    ['select', '-S'],
    ['select-connect', '-S -C'],
    ['hot', '-f hot-set'],
  ] as const) {
    const cell = (t: string): string => {
      const r = rows.find((x) => x.target === t && modeOf(x) === mode)
      return r
        ? `${r.tps.median.toFixed(0)} (${r.tps.min.toFixed(0)}–${r.tps.max.toFixed(0)})`
        : 'n/a'
    }
    lines.push(
      `| \`${label}\` TPS | ${cell('direct')} | ${cell('pgbouncer')} | ${cell('wharf')} | ${cell('wharf-2p')} | ${cell('wharf+cache')} |`
    )
    const cpu = (t: string): string => {
      const c = rows.find((x) => x.target === t && modeOf(x) === mode)?.cpuUsPerTx
      return c ? c.median.toFixed(1) : 'n/a'
    }
    cpuLines.push(
      `| \`${label}\` | ${cpu('pgbouncer')} | ${cpu('wharf')} | ${cpu('wharf-2p')} | ${cpu('wharf+cache')} |`
    )
  }
  lines.push(...cpuLines)
  const ratio = (a: number, b: number): string =>
    Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a'
  lines.push(
    '',
    `- wharf pool (no cache) / PgBouncer, -S: ${ratio(get('wharf', 'select'), get('pgbouncer', 'select'))} (target >= 1.0x)`,
    `- wharf pool, 2 processes / PgBouncer, -S: ${ratio(get('wharf-2p', 'select'), get('pgbouncer', 'select'))}`,
    `- wharf pool / PgBouncer, -S -C: ${ratio(get('wharf', 'select-connect'), get('pgbouncer', 'select-connect'))} (target >= 1.0x)`,
    `- wharf pool, 2 processes / PgBouncer, -S -C: ${ratio(get('wharf-2p', 'select-connect'), get('pgbouncer', 'select-connect'))}`,
    `- wharf pool + cache / direct, hot set: ${ratio(get('wharf+cache', 'hot'), get('direct', 'hot'))} (target >= 2x)`
  )
  // What pgbench's own CPU leaves for the cache. The least a server answering from memory does
  // is one read and one write a transaction: half of what PgBouncer spends relaying it.
  const client = rows.find((r) => r.target === 'wharf+cache' && modeOf(r) === 'hot')
    ?.clientCpuUsPerTx?.median
  const bouncer = rows.find((r) => r.target === 'pgbouncer' && modeOf(r) === 'hot')?.cpuUsPerTx
    ?.median
  const directHot = get('direct', 'hot')
  if (client && result.cores && Number.isFinite(directHot)) {
    const ceiling = clientCeiling({
      client: 'pgbench',
      clientUs: client,
      cores: result.cores,
      directTps: directHot,
      ...(bouncer
        ? { least: { what: `half PgBouncer's ${bouncer.toFixed(1)} µs`, us: bouncer / 2 } }
        : {}),
    })
    lines.push(`- client ceiling, hot set: ${ceiling}`)
  }
  const far = result.far
  if (far && 'rows' in far) {
    lines.push(
      '',
      `Far origin (${far.delayMs} ms each way), connect + one query, ms; floor ${far.floorMs.toFixed(2)} (loopback ${far.loopbackP50.toFixed(2)}):`,
      ''
    )
    for (const r of far.rows)
      lines.push(`- ${r.target}: p50 ${r.p50.median.toFixed(2)}, p99 ${r.p99.median.toFixed(2)}`)
  } else if (far) lines.push('', `Far origin: ${far.na}`)
  return lines.join('\n')
}

/** select | select-connect | hot: which pgbench run a row is. */
export function modeOf(row: PoolBenchRow): 'select' | 'select-connect' | 'hot' {
  if ((row.scenario as string | undefined) === 'hot') return 'hot'
  return row.connectPerTransaction ? 'select-connect' : 'select'
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      runs: { type: 'string', default: '3' },
      clients: { type: 'string', default: '8' },
      far: { type: 'string', default: '200' },
      json: { type: 'boolean' },
    },
  })
  const result = await runPoolBench({
    durationS: Number(values.duration),
    runs: Number(values.runs),
    clients: Number(values.clients),
    farIterations: Number(values.far),
  })
  console.log(values.json === true ? JSON.stringify(result, null, 2) : formatPoolTable(result))
}
