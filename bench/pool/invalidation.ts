// Invalidation delay and hit ratio of the query cache (issue 18), against a real PostgreSQL with
// wal_level = logical:
// - hot-set read load (pgbench, 1,000 accounts, Zipfian) through `wharf pool --wal-publication`
//   while 100 writes/s update hot accounts on a direct connection (the pooler never sees them);
//   for each write, a probe reads the same account through the pooler until the new value shows:
//   commit → first fresh read, p50/p99 (the entry was cached just before the write);
// - the cache hit ratio of that run, against a pooler without the WAL (pooler-only rules) with
//   the same writes sent through the pooler, so that it sees them;
// - and what the conservative rule costs: the same writes through that pooler as a call of a
//   function created after it started (unknown to it, so each call drops everything).
//
//   npx tsx bench/pool/invalidation.ts [--duration 15] [--rate 100] [--clients 8]
import { execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import pg from 'pg'
import { startLogicalPostgres } from '../../test-support/logical-postgres.js'
import { freePort } from '../../test-support/servers.js'
import { spawnWharfPool, stopChildren, waitForPort } from './common.js'

const run = promisify(execFile)
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    rate: { type: 'string', default: '100' },
    clients: { type: 'string', default: '8' },
  },
})
const duration = Math.min(Math.max(Number(values.duration), 2), 3600)
const rate = Math.min(Math.max(Number(values.rate), 1), 2000)
const clients = Math.min(Math.max(Number(values.clients), 1), 64)
const HOT = 1000
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function metrics(port: number): Promise<{ hits: number; misses: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const value = (name: string): number =>
    Number(new RegExp(`^wharf_pool_${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  return { hits: value('cache_hits_total'), misses: value('cache_misses_total') }
}

const at = (xs: number[], q: number): number =>
  xs.length === 0 ? NaN : (xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN)

console.error(
  `invalidation bench: load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`
)
const server = await startLogicalPostgres({ auth: 'trust' })
const dir = mkdtempSync(join(tmpdir(), 'wharf-invbench-'))
const children: ChildProcess[] = []
const open: pg.Client[] = []
// Writers: several direct connections, so a write does not queue behind another.
let direct: pg.Pool | undefined
const connect = async (connectionString: string): Promise<pg.Client> => {
  const c = new pg.Client({ connectionString })
  c.on('error', () => undefined)
  await c.connect()
  open.push(c)
  return c
}
try {
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
  server.psql('CREATE PUBLICATION wharf FOR ALL TABLES')
  const script = join(dir, 'hot.sql')
  writeFileSync(
    script,
    `\\set aid random_zipfian(1, ${HOT}, 1.1)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n`
  )
  const upstream = `postgres://${server.user}@127.0.0.1:${server.port}/${server.database}?sslmode=disable`
  direct = new pg.Pool({ connectionString: upstream, max: 8 })

  /** One run: pgbench hot-set reads on `port` plus `rate` writes/s through `writer`. */
  const scenario = async (
    port: number,
    metricsPort: number,
    writer: pg.Pool | pg.Client,
    probe: boolean,
    writeSql = 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $1'
  ): Promise<{ delays: number[]; timeouts: number; writes: number; hitRatio: number }> => {
    const url = `postgres://${server.user}@127.0.0.1:${port}/${server.database}`
    const probes = await Promise.all(Array.from({ length: 16 }, () => connect(url)))
    const free = [...probes]
    const before = await metrics(metricsPort)
    const bench = run(
      'pgbench',
      [
        '-n',
        '-f',
        script,
        '-c',
        String(clients),
        '-j',
        '2',
        '-T',
        String(duration),
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        server.user,
        server.database,
      ],
      { timeout: (duration + 60) * 1000 }
    )
    const delays: number[] = []
    let timeouts = 0
    let writes = 0
    const pending: Promise<void>[] = []
    const end = performance.now() + duration * 1000
    let next = performance.now()
    while (performance.now() < end) {
      next += 1000 / rate
      const aid = 1 + Math.floor(Math.random() * 50) // the hottest accounts: cached most of the time
      const sql = `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid}`
      const c = probe ? free.pop() : undefined
      if (c) {
        pending.push(
          (async () => {
            try {
              await c.query(sql) // cached (or cached now) before the write
              const w = await writer.query(
                'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $1 RETURNING abalance',
                [aid]
              )
              // From the commit's acknowledgement: the commit happened just before it.
              const t0 = performance.now()
              writes++
              const want = String((w.rows[0] as { abalance: number }).abalance)
              for (;;) {
                const r = await c.query(sql)
                if (Number((r.rows[0] as { abalance: number }).abalance) >= Number(want)) {
                  delays.push(performance.now() - t0)
                  break
                }
                if (performance.now() - t0 > 5000) {
                  timeouts++
                  break
                }
                await sleep(1)
              }
            } finally {
              free.push(c)
            }
          })()
        )
      } else {
        await writer.query(writeSql, [aid])
        writes++
      }
      const wait = next - performance.now()
      if (wait > 0) await sleep(wait)
    }
    await Promise.all(pending)
    const { stdout } = await bench
    const after = await metrics(metricsPort)
    const hits = after.hits - before.hits
    const misses = after.misses - before.misses
    const tps = /tps = ([\d.]+)/.exec(stdout)?.[1] ?? '?'
    console.error(
      `invalidation bench: port ${port}: ${tps} tps, ${writes} writes, hits ${hits}, misses ${misses}`
    )
    delays.sort((a, b) => a - b)
    return { delays, timeouts, writes, hitRatio: hits / (hits + misses) }
  }

  const walMetrics = await freePort()
  const wal = await spawnWharfPool(upstream, [
    '--wal-publication',
    'wharf',
    '--metrics',
    `127.0.0.1:${walMetrics}`,
  ])
  const plainMetrics = await freePort()
  const plain = await spawnWharfPool(upstream, ['--metrics', `127.0.0.1:${plainMetrics}`])
  children.push(wal.child, plain.child)
  await Promise.all([wal.port, plain.port, walMetrics, plainMetrics].map((p) => waitForPort(p)))
  await sleep(1000)

  const withWal = await scenario(wal.port, walMetrics, direct, true)
  const throughPooler = await connect(
    `postgres://${server.user}@127.0.0.1:${plain.port}/${server.database}`
  )
  const poolerOnly = await scenario(plain.port, plainMetrics, throughPooler, false)
  // Created behind the pooler's back, after its catalog snapshot: an unknown function.
  await direct.query(
    'CREATE FUNCTION wharf_bench_bump(a int) RETURNS void LANGUAGE sql AS $$ UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = a $$'
  )
  const unknownFunction = await scenario(
    plain.port,
    plainMetrics,
    throughPooler,
    false,
    'SELECT wharf_bench_bump($1)'
  )
  const d = withWal.delays
  console.log(
    [
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      `commit → first fresh read through the WAL pooler (${d.length} probed of ${withWal.writes} direct writes at ${rate}/s, ${withWal.timeouts} over 5 s): p50 ${at(d, 0.5).toFixed(1)} ms, p99 ${at(d, 0.99).toFixed(1)} ms, max ${at(d, 1).toFixed(1)} ms (goal p99 <= 50 ms)`,
      `hot-set hit ratio: WAL invalidation (direct writes) ${(100 * withWal.hitRatio).toFixed(1)}%, pooler-only rules (writes through the pooler) ${(100 * poolerOnly.hitRatio).toFixed(1)}%, the same writes as calls of a function unknown to the pooler (each drops everything) ${(100 * unknownFunction.hitRatio).toFixed(1)}%`,
    ].join('\n')
  )
} finally {
  for (const c of open) await c.end().catch(() => undefined)
  await direct?.end().catch(() => undefined)
  await stopChildren(children)
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
