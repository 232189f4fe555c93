// Pooler benchmark: pgbench -S for N seconds each, direct to PostgreSQL, through PgBouncer (the
// Debian package, transaction mode), through `wharf pool` without and with its cache, and the
// same with -C (a new connection per transaction, trust auth). Each server runs in its own
// process; everything listens on 127.0.0.1.
//
//   npx tsx bench/pool/run.ts [--duration 10] [--runs 3] [--clients 8] [--json]
//
// `runPoolBench()` is exported for the combined report (bench/run.mjs).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { startPostgres } from '../../test-support/postgres.js'
import { freePort } from '../../test-support/servers.js'

const ROOT = join(import.meta.dirname, '..', '..')
const WHARF = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')
const run = promisify(execFile)

export interface PoolBenchRow {
  readonly name: string
  readonly target: 'direct' | 'pgbouncer' | 'wharf' | 'wharf+cache'
  readonly connectPerTransaction: boolean
  readonly tps: {
    readonly median: number
    readonly min: number
    readonly max: number
    readonly runs: number[]
  }
}

export interface PoolBenchOptions {
  readonly durationS?: number
  readonly runs?: number
  readonly clients?: number
  /** Seconds of pgbench before measuring the cached pooler (default 25; entries live 60 s). */
  readonly cacheWarmupS?: number
  readonly log?: (line: string) => void
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? 0
}

export async function runPoolBench(options: PoolBenchOptions = {}): Promise<PoolBenchRow[]> {
  const duration = options.durationS ?? 10
  const runs = options.runs ?? 3
  const clients = options.clients ?? 8
  const cacheWarmupS = options.cacheWarmupS ?? 25
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'))
  if (spawnSync('pgbench', ['--version']).status !== 0)
    throw new Error('pgbench not found: run scripts/install-system-deps.sh as root')
  const server = await startPostgres({ auth: 'trust' })
  const children: ChildProcess[] = []
  const dir = mkdtempSync(join(tmpdir(), 'wharf-poolbench-'))
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

    // PgBouncer (refuses to run as root: as the postgres user when we are root).
    const bouncerPort = await freePort()
    writeFileSync(join(dir, 'userlist.txt'), `"${server.user}" ""\n`)
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `${server.database} = host=127.0.0.1 port=${server.port} dbname=${server.database}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${bouncerPort}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'userlist.txt')}`,
        'pool_mode = transaction',
        'max_client_conn = 1000',
        'default_pool_size = 20',
        'ignore_startup_parameters = extra_float_digits',
        `logfile = ${join(dir, 'pgbouncer.log')}`,
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      ].join('\n') + '\n'
    )
    const asRoot = process.getuid?.() === 0
    if (asRoot) {
      const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout)
      const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout)
      for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid)
    }
    const bouncer = asRoot
      ? spawn(
          'runuser',
          ['-u', 'postgres', '--', '/usr/sbin/pgbouncer', join(dir, 'pgbouncer.ini')],
          { stdio: 'ignore' }
        )
      : spawn('/usr/sbin/pgbouncer', [join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
    children.push(bouncer)

    const upstream = `postgres://${server.user}@127.0.0.1:${server.port}/${server.database}?sslmode=disable`
    const wharfPort = await freePort()
    const cachePort = await freePort()
    for (const [port, extra] of [
      [wharfPort, ['--no-cache']],
      [cachePort, []],
    ] as const) {
      children.push(
        spawn(
          process.execPath,
          [
            WHARF,
            'pool',
            '--upstream',
            upstream,
            '--listen',
            `127.0.0.1:${port}`,
            '--max-connections',
            '20',
            '--stats-interval',
            '0',
            ...extra,
          ],
          { stdio: 'ignore' }
        )
      )
    }
    await Promise.all([bouncerPort, wharfPort, cachePort].map((p) => waitForPort(p)))

    const targets = [
      { target: 'direct', port: server.port },
      { target: 'pgbouncer', port: bouncerPort },
      { target: 'wharf', port: wharfPort },
      { target: 'wharf+cache', port: cachePort },
    ] as const
    const pgbench = async (port: number, connect: boolean, seconds: number): Promise<number> => {
      const args = [
        '-n',
        '-S',
        '-c',
        String(clients),
        '-j',
        '2',
        '-T',
        String(seconds),
        ...(connect ? ['-C'] : []),
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
      return Number(m[1])
    }
    // Warm every pool (and the JIT) once, so the measured runs see steady state. The cache gets
    // longer: pgbench -S draws from 100,000 accounts, and a cache only helps once it holds them.
    for (const t of targets) await pgbench(t.port, false, Math.min(5, duration))
    log(`pool bench: filling the cache for ${cacheWarmupS} s`)
    await pgbench(cachePort, false, cacheWarmupS)
    const rows: PoolBenchRow[] = []
    for (const connect of [false, true]) {
      const results = new Map<string, number[]>()
      // Interleave targets run by run: drift on a shared machine hits every target alike.
      for (let i = 0; i < runs; i++) {
        for (const t of targets) {
          const tps = await pgbench(t.port, connect, duration)
          results.set(t.target, [...(results.get(t.target) ?? []), tps])
          log(
            `pool bench: ${t.target}${connect ? ' -C' : ''} run ${i + 1}/${runs}: ${tps.toFixed(0)} tps`
          )
        }
      }
      for (const t of targets) {
        const xs = results.get(t.target) ?? []
        rows.push({
          name: `pgbench -S -c ${clients} -j 2${connect ? ' -C' : ''}, ${t.target}`,
          target: t.target,
          connectPerTransaction: connect,
          tps: { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs },
        })
      }
    }
    return rows
  } finally {
    for (const c of children) c.kill('SIGTERM')
    // runuser may not pass SIGTERM on: stop PgBouncer by the pid it wrote.
    try {
      const pid = Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8').trim())
      if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGTERM')
    } catch {
      // not started, or already gone
    }
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? Promise.resolve()
          : new Promise((r) => {
              const t = setTimeout(r, 5000)
              c.once('exit', () => {
                clearTimeout(t)
                r(undefined)
              })
            })
      )
    )
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function formatPoolTable(rows: readonly PoolBenchRow[]): string {
  const get = (target: string, connect: boolean): number =>
    rows.find((r) => r.target === target && r.connectPerTransaction === connect)?.tps.median ?? NaN
  const lines = [
    '| run | direct | PgBouncer | wharf pool | wharf pool + cache |',
    '|---|---|---|---|---|',
  ]
  for (const connect of [false, true]) {
    const cell = (t: string): string => {
      const r = rows.find((x) => x.target === t && x.connectPerTransaction === connect)
      return r
        ? `${r.tps.median.toFixed(0)} (${r.tps.min.toFixed(0)}–${r.tps.max.toFixed(0)})`
        : 'n/a'
    }
    lines.push(
      `| \`-S${connect ? ' -C' : ''}\` TPS | ${cell('direct')} | ${cell('pgbouncer')} | ${cell('wharf')} | ${cell('wharf+cache')} |`
    )
  }
  const ratio = (a: number, b: number): string =>
    Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a'
  lines.push(
    '',
    `- wharf pool (no cache) / PgBouncer, -S: ${ratio(get('wharf', false), get('pgbouncer', false))} (target >= 1.0x)`,
    `- wharf pool + cache / direct, -S: ${ratio(get('wharf+cache', false), get('direct', false))} (target >= 2x)`,
    `- wharf pool / PgBouncer, -S -C: ${ratio(get('wharf', true), get('pgbouncer', true))} (target >= 1.0x)`
  )
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      runs: { type: 'string', default: '3' },
      clients: { type: 'string', default: '8' },
      json: { type: 'boolean' },
    },
  })
  const rows = await runPoolBench({
    durationS: Number(values.duration),
    runs: Number(values.runs),
    clients: Number(values.clients),
  })
  console.log(values.json === true ? JSON.stringify(rows, null, 2) : formatPoolTable(rows))
}
