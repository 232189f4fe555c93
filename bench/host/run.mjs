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
        '--var',
        `ECHO:127.0.0.1:${echoPort}`,
        '--allow',
        '127.0.0.1/32',
      ],
      /Ready on (http:\/\/\S+)/
    )
  const wharfUrl = await startWharf('auto')
  const wharfOpenUrl = await startWharf('none')
  // wharf serve (isolated) at 1 and 2 runtime processes, against plain node:http at the same count.
  const plain2Port = await start(
    [here('./servers.mjs'), 'plain-cluster', echoPort, '2'],
    /^(\d+)$/m
  )
  const startServe = (processes) =>
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
        '--var',
        `ECHO:127.0.0.1:${echoPort}`,
        '--allow',
        '127.0.0.1/32',
      ],
      /serving .* on (http:\/\/\S+)/
    )
  const serve1Url = await startServe(1)
  const serve2Url = await startServe(2)
  const plainUrl = `http://127.0.0.1:${plainPort}/`
  const results = {}
  for (const [name, url] of [
    ['plain node:http + node:net', plainUrl],
    ['node:http + @wharf/sockets', `http://127.0.0.1:${socketsPort}/`],
    ['wharf dev Worker', `${wharfUrl}/`],
    ['wharf dev, isolation none', `${wharfOpenUrl}/`],
    ['plain, 2 processes', `http://127.0.0.1:${plain2Port}/`],
    ['wharf serve, 1 process', `${serve1Url}/`],
    ['wharf serve, 2 processes', `${serve2Url}/`],
  ]) {
    await load(url, warmup)
    results[name] = await load(url, duration)
  }
  const [plain, sockets, wharf, open, plain2, serve1, serve2] = Object.values(results)
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
  console.log(
    `wharf serve (isolated)/plain: ${(serve1.rps / plain.rps).toFixed(2)}x at 1 process, ${(serve2.rps / plain2.rps).toFixed(2)}x at 2 (goal >= 0.6x)`
  )
  console.log(`wharf serve --processes 2 / 1: ${(serve2.rps / serve1.rps).toFixed(2)}x`)
  console.log(
    `p99: serve ${serve1.p99} ms vs plain ${plain.p99} ms (1 process), ${serve2.p99} ms vs ${plain2.p99} ms (2)`
  )
} finally {
  // Servers first, the echo service they talk to last: no request sees its upstream vanish.
  for (const child of children.reverse()) child.kill('SIGTERM')
}
