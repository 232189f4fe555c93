#!/usr/bin/env node
// Profiles one socket scenario of one peer against a loopback echo server (its own process):
//   node bench/profile/run.mjs [--node PATH] [--peer wharf] [--scenario lifecycle]
//        [--count 20000] [--concurrency 8] [--mib N] [--cpu-prof DIR] [--strace FILE]
// --scenario is a driver of cf-scenarios.js (lifecycle, roundtrip, setup) run against the echo
// server, or a row id of bench/lib/scenarios.mjs (recv-64k, send-4k, tls-recv-64k, idle-memory,
// ...) run with that row's parameters against the bench's load servers; --mib overrides a bulk
// row's size. Bulk rows report cpuUsPerMiB (the client's CPU per MiB moved).
// --cpu-prof writes a V8 profile into DIR (summarise it with summarize.mjs); --strace runs the
// client under `strace -c -f` and writes the syscall table to FILE. Prints the client's JSON.
import { spawn } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { makePki } from '../lib/pki.mjs'
import { SCENARIOS } from '../lib/scenarios.mjs'

const { values } = parseArgs({
  options: {
    node: { type: 'string', default: process.execPath },
    peer: { type: 'string', default: 'wharf' },
    scenario: { type: 'string', default: 'lifecycle' },
    count: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '8' },
    mib: { type: 'string' },
    'cpu-prof': { type: 'string' },
    strace: { type: 'string' },
  },
})
const here = import.meta.dirname
const echoSource = `
  const net = require('node:net')
  const server = net.createServer((s) => {
    s.setNoDelay(true)
    s.on('data', (d) => s.write(d))
    s.on('end', () => s.end())
    s.on('error', () => {})
  })
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log(server.address().port))
  process.on('SIGTERM', () => process.exit(0))
`
const row = SCENARIOS.find((r) => r.id === values.scenario)
const pki = row ? makePki() : undefined
const server = row
  ? spawn(process.execPath, [join(here, '..', 'lib', 'servers.mjs'), pki.certPath, pki.keyPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
  : spawn(process.execPath, ['-e', echoSource], { stdio: ['ignore', 'pipe', 'inherit'] })
try {
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 15_000)
    let out = ''
    server.stdout.on('data', (c) => {
      out += c
      if (!out.includes('\n')) return
      clearTimeout(timer)
      resolve(out.split('\n')[0].trim())
    })
  })
  let scenario = values.scenario
  let params = {
    port: Number(first),
    count: Number(values.count),
    concurrency: Number(values.concurrency),
  }
  if (row) {
    scenario = row.kind
    params = { ...row.params(false), port: JSON.parse(first)[row.port] }
    if (values.mib && params.bytes !== undefined) params.bytes = Number(values.mib) * 1024 * 1024
  }
  const nodeArgs = []
  if (values['cpu-prof']) {
    mkdirSync(values['cpu-prof'], { recursive: true })
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`)
  }
  const clientArgs = [
    ...nodeArgs,
    '--expose-gc',
    join(here, '..', 'lib', 'client.mjs'),
    values.peer,
    scenario,
    JSON.stringify(params),
  ]
  const [cmd, args] = values.strace
    ? ['strace', ['-c', '-f', '-o', values.strace, values.node, ...clientArgs]]
    : [values.node, clientArgs]
  const out = await new Promise((resolve, reject) => {
    const env = pki ? { ...process.env, NODE_EXTRA_CA_CERTS: pki.caPath } : process.env
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env })
    let text = ''
    child.stdout.on('data', (c) => (text += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(text.trim())
      else reject(new Error(`client exited ${code ?? signal}`))
    })
  })
  console.log(out)
} finally {
  server.kill('SIGTERM')
  if (pki) rmSync(pki.dir, { recursive: true, force: true })
}
