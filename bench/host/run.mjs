#!/usr/bin/env node
// Host benchmark: requests/s of a Worker under `wharf dev` that opens a socket, does one round
// trip and closes it, versus the same handler as a plain node:http + node:net server.
// Usage: node bench/host/run.mjs [--duration 10] [--connections 50]   (needs `npm run build`)
import { spawn } from 'node:child_process'
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
        resolve(m[1])
      }
    }
    child.stdout.on('data', onData)
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code})`)))
  })
}

async function load(url, seconds) {
  const result = await autocannon({ url, connections, duration: seconds })
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  }
}

try {
  const echoPort = await start([here('./servers.mjs'), 'echo'], /^(\d+)$/m)
  const plainPort = await start([here('./servers.mjs'), 'plain', echoPort], /^(\d+)$/m)
  const socketsPort = await start([here('./servers.mjs'), 'plain-sockets', echoPort], /^(\d+)$/m)
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
  const wharfUrl = await startWharf('auto')
  const wharfOpenUrl = await startWharf('none')
  const plainUrl = `http://127.0.0.1:${plainPort}/`
  const results = {}
  for (const [name, url] of [
    ['plain node:http + node:net', plainUrl],
    ['node:http + @wharf/sockets', `http://127.0.0.1:${socketsPort}/`],
    ['wharf dev Worker', `${wharfUrl}/`],
    ['wharf dev, isolation none', `${wharfOpenUrl}/`],
  ]) {
    await load(url, warmup)
    results[name] = await load(url, duration)
  }
  const [plain, sockets, wharf, open] = Object.values(results)
  console.log(`connections ${connections}, ${duration} s each, after a ${warmup} s warm-up`)
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(28)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99} ms  errors ${r.errors}`
    )
  }
  console.log(`ratio wharf/plain: ${(wharf.rps / plain.rps).toFixed(2)}x (target >= 0.8x)`)
  console.log(`  of which @wharf/sockets alone/plain: ${(sockets.rps / plain.rps).toFixed(2)}x`)
  console.log(`  and the host over @wharf/sockets alone: ${(wharf.rps / sockets.rps).toFixed(2)}x`)
  console.log(
    `  isolation (network namespace + dial broker) costs: ${(wharf.rps / open.rps).toFixed(2)}x of the unisolated host`
  )
} finally {
  // Servers first, the echo service they talk to last: no request sees its upstream vanish.
  for (const child of children.reverse()) child.kill('SIGTERM')
}
