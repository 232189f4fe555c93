#!/usr/bin/env node
// Service-binding socket benchmark: round trips/s and bulk throughput of a Worker's socket through
// a service binding to an echo Worker (its connect() handler), against a direct connect() to the
// same echo Worker (its wharf.tcp listener), and to a plain Node TCP echo server for reference,
// under one `wharf dev`, or with --serve one `wharf serve` (one runtime process per Worker)
// (needs `npm run build`).
// Usage: node bench/services/run.mjs [--runs 15] [--trips 2000] [--mb 32] [--serve]
// On 2 cores single bulk runs of one mode spread over 2x (360 to 1,020 MiB/s, idle machine): the
// two runtimes and the supervisor share the cores. Three runs of 16 MiB gave ratios 0.70x to
// 1.04x for one build; the medians of 15 or more runs are what to compare.
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    trips: { type: 'string', default: '2000' },
    mb: { type: 'string', default: '32' },
    serve: { type: 'boolean', default: false },
  },
})
const here = (p) => fileURLToPath(new URL(p, import.meta.url))

function get(url, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(body))
      )
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
  })
}

const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('error', () => undefined)
  s.pipe(s)
})
await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve))
const echoAddr = `127.0.0.1:${echo.address().port}`

async function freePort() {
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}
const tcpPort = await freePort()
const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-services-'))
const worker = (name, config) => {
  mkdirSync(join(dir, name))
  copyFileSync(here(`./${name}/worker.js`), join(dir, name, 'worker.js'))
  const file = join(dir, name, 'wrangler.json')
  writeFileSync(
    file,
    JSON.stringify({ main: 'worker.js', compatibility_date: '2026-11-01', ...config })
  )
  return file
}
const front = worker('front', {
  name: 'bench-front',
  services: [{ binding: 'ECHO_WORKER', service: 'bench-echo' }],
  vars: { ECHO_ADDR: echoAddr, ECHO_TCP: `127.0.0.1:${tcpPort}` },
})
const echoWorker = worker('echo', { name: 'bench-echo', wharf: { tcp: [{ port: tcpPort }] } })

const child = spawn(
  process.execPath,
  [
    here('../../packages/host/bin/wharf.js'),
    values.serve ? 'serve' : 'dev',
    '-c',
    front,
    '-c',
    echoWorker,
    '--port',
    '0',
    ...(values.serve ? ['--processes', '1'] : ['--no-watch']),
    '--allow',
    '127.0.0.1/32',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] }
)
const origin = await new Promise((resolve, reject) => {
  let out = ''
  const timer = setTimeout(() => reject(new Error(`wharf dev did not start:\n${out}`)), 60_000)
  child.stdout.on('data', (c) => {
    out += c
    const m = /Ready on (http:\/\/\S+)|serving .* on (http:\/\/\S+)/.exec(out)
    if (m) {
      clearTimeout(timer)
      child.stdout.resume()
      resolve(m[1] ?? m[2])
    }
  })
  child.once('exit', () => reject(new Error(`wharf dev exited:\n${out}`)))
})

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const runs = Number(values.runs)
const rows = []
try {
  for (const [name, path, figure, unit] of [
    ['round trips (64 B)', `/rt?n=${values.trips}`, (r) => (r.ops / r.ms) * 1000, 'round trips/s'],
    ['bulk both ways', `/bulk?mb=${values.mb}`, (r) => r.bytes / 1048576 / (r.ms / 1000), 'MiB/s'],
  ]) {
    const modes = ['service', 'tcp', 'node']
    const figures = { service: [], tcp: [], node: [] }
    for (const mode of modes) await get(`${origin}${path}&mode=${mode}`) // warm-up
    for (let i = 0; i < runs; i++) {
      // Alternate, so load from other work on the machine falls on all alike.
      for (const mode of modes) {
        figures[mode].push(figure(await get(`${origin}${path}&mode=${mode}`)))
      }
    }
    const [service, tcp, node] = modes.map((m) => median(figures[m]))
    rows.push({ name, unit, service, tcp, node })
  }
} finally {
  child.kill('SIGTERM')
  echo.close()
  rmSync(dir, { recursive: true, force: true })
}
console.log(
  '| case | service binding | connect() to the same echo Worker (wharf.tcp) | ratio | connect() to a Node echo | ratio |'
)
console.log('|---|---|---|---|---|---|')
for (const r of rows) {
  const f = (x) => `${x.toFixed(0)} ${r.unit}`
  console.log(
    `| ${r.name} | ${f(r.service)} | ${f(r.tcp)} | ${(r.service / r.tcp).toFixed(2)}x | ${f(r.node)} | ${(r.service / r.node).toFixed(2)}x |`
  )
}
