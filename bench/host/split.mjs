#!/usr/bin/env node
// Where a host request's CPU goes, by process: starts `wharf serve` (or dev) against the echo
// service, loads it, and prints user+sys CPU per request of each process of its tree (the
// supervisor, bwrap's helpers, the runtime), from /proc/<pid>/stat before and after the load.
// Usage: node bench/host/split.mjs [--command serve|dev] [--isolation auto|none]
//        [--sandbox auto|off] [--duration 8] [--connections 50] [--processes 1] [--rounds 1]
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values } = parseArgs({
  options: {
    command: { type: 'string', default: 'serve' },
    isolation: { type: 'string', default: 'auto' },
    sandbox: { type: 'string', default: 'auto' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '50' },
    processes: { type: 'string', default: '1' },
    extra: { type: 'string', multiple: true, default: [] },
    // Writes V8 CPU profiles of the host (and, with --sandbox off, of the runtime) there.
    prof: { type: 'string' },
  },
})
const here = (p) => fileURLToPath(new URL(p, import.meta.url))

function start(args, pattern) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`no ${pattern}`)), 20_000)
    const onData = (chunk) => {
      out += chunk
      const m = pattern.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.stdout.resume()
      resolve({ value: m[1], child, log: out })
    }
    child.stdout.on('data', onData)
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)))
  })
}

function tree(pid) {
  const out = [pid]
  for (let i = 0; i < out.length && out.length < 64; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim()
      for (const k of kids.split(/\s+/).filter(Boolean)) out.push(Number(k))
    } catch {
      // gone
    }
  }
  return out
}

function cpu(pids) {
  const m = new Map()
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      m.set(p, (Number(f[11]) + Number(f[12])) * 10_000)
    } catch {
      // gone
    }
  }
  return m
}

const name = (pid, root) => {
  if (pid === root) return 'supervisor'
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    if (cmd[0].endsWith('bwrap')) return 'bwrap'
    if (cmd.some((a) => a.endsWith('child.js'))) return 'runtime'
    return cmd[0].split('/').pop()
  } catch {
    return '?'
  }
}

const echo = await start([here('./servers.mjs'), 'echo'], /^(\d+)$/m)
const flags = [
  '--port',
  '0',
  '--isolation',
  values.isolation,
  '--sandbox',
  values.sandbox,
  '--var',
  `ECHO:127.0.0.1:${echo.value}`,
  '--allow',
  '127.0.0.1/32',
  ...values.extra,
]
const prof = values.prof ? ['--cpu-prof', '--cpu-prof-dir', values.prof] : []
const args =
  values.command === 'serve'
    ? [
        ...prof,
        here('../../packages/host/bin/wharf.js'),
        'serve',
        here('./worker'),
        '--processes',
        values.processes,
        ...flags,
      ]
    : [
        ...prof,
        here('../../packages/host/bin/wharf.js'),
        'dev',
        here('./worker'),
        '--no-watch',
        ...flags,
      ]
const server = await start(
  args,
  values.command === 'serve' ? /serving .* on (http:\/\/\S+)/ : /Ready on (http:\/\/\S+)/
)
try {
  const url = `${server.value}/`
  const connections = Number(values.connections)
  await autocannon({ url, connections, duration: 2 })
  const pids = tree(server.child.pid)
  const before = cpu(pids)
  const r = await autocannon({ url, connections, duration: Number(values.duration) })
  const after = cpu(pids)
  const n = Math.max(1, r.requests.total)
  const load = loadavg()[0].toFixed(2)
  const parts = pids.map(
    (p) =>
      `${name(p, server.child.pid)} ${(((after.get(p) ?? 0) - (before.get(p) ?? 0)) / n).toFixed(0)}`
  )
  const total = pids.reduce((s, p) => s + (after.get(p) ?? 0) - (before.get(p) ?? 0), 0) / n
  console.log(
    `${values.command} isolation=${values.isolation} sandbox=${values.sandbox}: ${r.requests.average.toFixed(0)} req/s p99 ${r.latency.p99} ms errors ${r.errors + r.non2xx}; cpu us/req total ${total.toFixed(0)} = ${parts.join(', ')}; load ${load}`
  )
  for (const line of server.log
    .split('\n')
    .filter((l) => /Worker (isolation|connections)|warn/.test(l)))
    console.log(`  log: ${line.slice(0, 160)}`)
} finally {
  // The host first (and waited for, bounded), the echo service it talks to last.
  await new Promise((done) => {
    const timer = setTimeout(done, 5000)
    server.child.once('exit', () => (clearTimeout(timer), done()))
    server.child.kill('SIGTERM')
  })
  echo.child.kill('SIGTERM')
}
