#!/usr/bin/env node
// Host benchmark: requests/s of a Worker under `wharf dev` that opens a socket, does one round
// trip and closes it, versus the same handler as a plain node:http + node:net server.
// Usage: node bench/host/run.mjs [--duration 10] [--connections 50]   (needs `npm run build`)
//        node bench/host/run.mjs --sandbox-ab 3 [--command dev|serve]: the sandbox's cost alone,
//        sandbox off and on alternated for that many rounds, with the load average beside them.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    // The runtime's sandbox (auto|strict|off), to measure what it costs.
    sandbox: { type: 'string', default: 'auto' },
    'sandbox-ab': { type: 'string' },
    command: { type: 'string', default: 'dev' },
  },
})
const duration = Number(values.duration)
const connections = Number(values.connections)
const warmup = Number(values.warmup)
const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const children = []

function start(args, pattern) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} from ${args.join(' ')}`)),
      20_000
    )
    const onData = (chunk) => {
      out += chunk
      const m = pattern.exec(out)
      if (m) {
        clearTimeout(timer)
        // Keep draining the pipe (the host logs every request) without keeping the text.
        child.stdout.off('data', onData)
        child.stdout.resume()
        resolve({
          value: m[1],
          pid: child.pid,
          // Stops it and waits (bounded) for it to be gone: the next server runs alone.
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done()
              const timer = setTimeout(() => {
                child.kill('SIGKILL')
                done()
              }, 5000)
              child.once('exit', () => {
                clearTimeout(timer)
                done()
              })
              child.kill('SIGTERM')
            }),
        })
      }
    }
    child.stdout.on('data', onData)
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code})`)))
  })
}

/** The pids of a process and all its descendants (Linux /proc), at most 64. */
function tree(pid) {
  const out = [pid]
  for (let i = 0; i < out.length && out.length < 64; i++) {
    try {
      for (const task of readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean))
        out.push(Number(task))
    } catch {
      // gone
    }
  }
  return out
}

/** User + system CPU of a process tree so far, in µs (clock ticks of 10 ms). */
function cpuOfTree(pid) {
  let ticks = 0
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // gone
    }
  }
  return ticks * 10_000
}

async function load(url, seconds, pid) {
  const cpu0 = pid ? cpuOfTree(pid) : 0
  const result = await autocannon({ url, connections, duration: seconds })
  const cpu = pid ? cpuOfTree(pid) - cpu0 : NaN
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    // Server CPU (its whole process tree: the runtime and broker of `wharf dev` included) per
    // request: steadier than req/s while other jobs share the cores.
    cpuUsPerReq: cpu / Math.max(1, result.requests.total),
  }
}

/** Sandbox off, then on, `rounds` times (alternated: a load change hits both alike). */
async function sandboxAb(rounds, launch) {
  const rows = { off: [], auto: [] }
  const fmt = (r) =>
    `${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99} ms  errors ${r.errors}  cpu ${r.cpuUsPerReq.toFixed(0)} us/req  load ${r.load}`
  for (let round = 0; round < rounds; round++) {
    for (const sandbox of ['off', 'auto']) {
      const server = await launch(sandbox)
      try {
        await load(`${server.value}/`, warmup)
        const r = await load(`${server.value}/`, duration, server.pid)
        r.load = loadavg()[0].toFixed(2)
        rows[sandbox].push(r)
        console.log(`round ${round + 1} sandbox ${sandbox.padEnd(4)} ${fmt(r)}`)
      } finally {
        await server.stop()
      }
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const off = median(rows.off.map((r) => r.rps))
  const on = median(rows.auto.map((r) => r.rps))
  const p99off = median(rows.off.map((r) => r.p99))
  const p99on = median(rows.auto.map((r) => r.p99))
  console.log(
    `median req/s: off ${off.toFixed(0)}, sandboxed ${on.toFixed(0)}: cost ${((1 - on / off) * 100).toFixed(1)}% (goal <= 5%); p99 ${p99off} ms -> ${p99on} ms`
  )
}

try {
  const echoPort = (await start([here('./servers.mjs'), 'echo'], /^(\d+)$/m)).value
  const startWharf = (isolation) =>
    start(
      [
        here('../../packages/host/bin/wharf.js'),
        'dev',
        here('./worker'),
        '--port',
        '0',
        '--no-watch',
        '--isolation',
        isolation,
        '--sandbox',
        values.sandbox,
        '--var',
        `ECHO:127.0.0.1:${echoPort}`,
        '--allow',
        '127.0.0.1/32',
      ],
      /Ready on (http:\/\/\S+)/
    )
  const startServe = (processes, sandbox = 'auto') =>
    start(
      [
        here('../../packages/host/bin/wharf.js'),
        'serve',
        here('./worker'),
        '--port',
        '0',
        '--processes',
        String(processes),
        '--isolation',
        'auto',
        '--sandbox',
        sandbox,
        '--var',
        `ECHO:127.0.0.1:${echoPort}`,
        '--allow',
        '127.0.0.1/32',
      ],
      /serving .* on (http:\/\/\S+)/
    )
  if (values['sandbox-ab'] !== undefined) {
    // Returns through the finally below, which stops the echo service too.
    await sandboxAb(Number(values['sandbox-ab']), (sandbox) =>
      values.command === 'serve'
        ? startServe(1, sandbox)
        : ((values.sandbox = sandbox), startWharf('auto'))
    )
  } else await full(echoPort, startWharf, startServe)
} finally {
  // Servers first, the echo service they talk to last: no request sees its upstream vanish.
  for (const child of children.reverse()) child.kill('SIGTERM')
}

async function full(echoPort, startWharf, startServe) {
  const results = {}
  // One server at a time: each is started, loaded and stopped before the next, so an idle host
  // (or one still draining its backlog) never competes with the one being measured.
  for (const [name, launch, path] of [
    [
      'plain node:http + node:net',
      () => start([here('./servers.mjs'), 'plain', echoPort], /^(\d+)$/m),
      '',
    ],
    [
      'node:http + @wharf/sockets',
      () => start([here('./servers.mjs'), 'plain-sockets', echoPort], /^(\d+)$/m),
      '',
    ],
    ['wharf dev Worker', () => startWharf('auto'), 'url'],
    ['wharf dev, isolation none', () => startWharf('none'), 'url'],
    [
      'plain, 2 processes',
      () => start([here('./servers.mjs'), 'plain-cluster', echoPort, '2'], /^(\d+)$/m),
      '',
    ],
    ['wharf serve, 1 process', () => startServe(1), 'url'],
    ['wharf serve, 2 processes', () => startServe(2), 'url'],
  ]) {
    const server = await launch()
    const url = path === 'url' ? `${server.value}/` : `http://127.0.0.1:${server.value}/`
    try {
      await load(url, warmup)
      results[name] = await load(url, duration, server.pid)
    } finally {
      await server.stop()
    }
  }
  const [plain, socketsR, wharf, open, plain2, serve1, serve2] = Object.values(results)
  const plainR = plain
  console.log(`connections ${connections}, ${duration} s each, after a ${warmup} s warm-up`)
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(28)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99} ms  errors ${r.errors}  cpu ${r.cpuUsPerReq.toFixed(0)} us/req`
    )
  }
  console.log(`ratio wharf/plain: ${(wharf.rps / plainR.rps).toFixed(2)}x (target >= 0.4x)`)
  console.log(`  of which @wharf/sockets alone/plain: ${(socketsR.rps / plainR.rps).toFixed(2)}x`)
  console.log(`  and the host over @wharf/sockets alone: ${(wharf.rps / socketsR.rps).toFixed(2)}x`)
  console.log(
    `  isolation (network namespace + dial broker) costs: ${(wharf.rps / open.rps).toFixed(2)}x of the unisolated host`
  )
  console.log(
    `wharf serve (isolated)/plain: ${(serve1.rps / plain.rps).toFixed(2)}x at 1 process, ${(serve2.rps / plain2.rps).toFixed(2)}x at 2 (goal >= 0.6x)`
  )
  console.log(`wharf serve --processes 2 / 1: ${(serve2.rps / serve1.rps).toFixed(2)}x`)
  console.log(
    `p99: serve ${serve1.p99} ms vs plain ${plain.p99} ms (1 process), ${serve2.p99} ms vs ${plain2.p99} ms (2)`
  )
}
