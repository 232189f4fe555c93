// What the PostgreSQL and MySQL pool benchmarks share: waiting for a port, run statistics, a
// process's CPU, and `wharf pool` started in its own process.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../test-support/servers.js'

export const ROOT = join(import.meta.dirname, '..', '..')
export const WHARF = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')

export interface Stats {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly runs: number[]
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
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

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? 0
}

export const stats = (xs: number[]): Stats => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  runs: xs,
})

/**
 * Two CPU fields of /proc/PID/stat added, in µs (clock ticks of 10 ms); `at` indexes the fields
 * after the command name: 11 and 12 are the process's own user and system time, 13 and 14 those
 * of its children that have exited and been reaped.
 */
function statCpu(pid: number | 'self', at: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[at]) + Number(fields[at + 1])) * 10_000
}

/** User + system CPU of a process so far, in µs (Linux /proc; clock ticks of 10 ms). */
export function cpuOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    return statCpu(pid, 11)
  } catch {
    return undefined
  }
}

/** The same for a process and all its descendants (`wharf pool --processes N`: the workers). */
export function cpuOfTree(pid: number | undefined, depth = 0): number | undefined {
  const own = cpuOf(pid)
  if (own === undefined || pid === undefined || depth > 4) return own
  let total = own
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim()
      for (const kid of kids ? kids.split(' ') : []) total += cpuOfTree(Number(kid), depth + 1) ?? 0
    }
  } catch {
    // gone meanwhile: what was read so far
  }
  return total
}

/**
 * CPU of this process's children that have exited, in µs: read before and after one
 * `execFile('sysbench', …)`, the difference is that client's CPU (a child's time is added once
 * it is reaped).
 */
export function reapedChildrenCpu(): number {
  return statCpu('self', 13)
}

/**
 * What the load generator's own CPU leaves for a server on the run's cores, for the hot set: the
 * TPS no server passes even at no cost and, given `least`, the TPS a server spending that much
 * CPU a transaction does not pass, as ratios to direct. Both pool reports print it.
 */
export function clientCeiling(o: {
  readonly client: string
  readonly clientUs: number
  readonly cores: number
  readonly directTps: number
  readonly least?: { readonly what: string; readonly us: number }
}): string {
  const ceiling = (us: number): string => {
    const tps = (o.cores * 1e6) / us
    return `${tps.toFixed(0)} TPS, ${(tps / o.directTps).toFixed(2)}x direct`
  }
  const least = o.least
  return (
    `${o.client} itself spends ${o.clientUs.toFixed(1)} µs of CPU a transaction, so on ${o.cores} cores no server passes ${ceiling(o.clientUs)}` +
    (least
      ? `; one that only reads each query and writes its answer (${least.what}) passes no ${ceiling(o.clientUs + least.us)}`
      : '')
  )
}

/**
 * HAProxy in TCP mode, one thread, in front of `upstreamPort`: a relay that copies bytes and
 * nothing else, the most a proxy in the path can leave of a direct connection's throughput here.
 * `{ missing }` with the reason when Debian's haproxy is not installed.
 */
export async function startRelay(
  upstreamPort: number
): Promise<{ port: number; child: ChildProcess } | { missing: string }> {
  const binary = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((path) => existsSync(path))
  if (binary === undefined)
    return { missing: 'haproxy not installed (scripts/install-system-deps.sh)' }
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'wharf-relay-'))
  const config = join(dir, 'haproxy.cfg')
  writeFileSync(
    config,
    [
      'global',
      '  nbthread 1',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 120s',
      '  timeout server 120s',
      'frontend relay',
      `  bind 127.0.0.1:${port}`,
      '  default_backend origin',
      'backend origin',
      `  server origin 127.0.0.1:${upstreamPort}`,
      '',
    ].join('\n')
  )
  const child = spawn(binary, ['-f', config, '-db'], { stdio: 'ignore' })
  try {
    await waitForPort(port)
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  } finally {
    rmSync(dir, { recursive: true, force: true }) // read at start only
  }
  return { port, child }
}

/** The load average as printed next to every figure: `1.00 2.00 3.00`. */
export const loadText = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

/**
 * `wharf pool` (20 origin connections, trust auth on loopback) in its own process; `wharf` is
 * another checkout's `packages/host/bin/wharf.js` for an A/B.
 */
export async function spawnWharfPool(
  upstream: string,
  extra: readonly string[],
  options: { wharf?: string; maxConnections?: number } = {}
): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [
      options.wharf ?? WHARF,
      'pool',
      '--upstream',
      upstream,
      '--listen',
      `127.0.0.1:${port}`,
      '--max-connections',
      String(options.maxConnections ?? 20),
      '--stats-interval',
      '0',
      ...extra,
    ],
    { stdio: 'ignore' }
  )
  return { port, child }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once every child has exited. */
export async function stopChildren(children: readonly ChildProcess[]): Promise<void> {
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => {
            const t = setTimeout(() => {
              c.kill('SIGKILL')
              r(undefined)
            }, 5000)
            c.once('exit', () => {
              clearTimeout(t)
              r(undefined)
            })
          })
    )
  )
}

/** Runs a client script in a fresh process; resolves the last JSON line it prints. */
export function jsonChild<T>(script: string, params: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(params)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => {
      if (out.length < 1_000_000) out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4000) err += c.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) {
        reject(new Error(`${script}: exit ${code ?? signal}: ${err.trim().slice(0, 300)}`))
        return
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T)
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)))
      }
    })
  })
}
