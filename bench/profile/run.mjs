#!/usr/bin/env node
// Profiles one socket scenario of one peer against a loopback echo server (its own process):
//   node bench/profile/run.mjs [--node PATH] [--peer wharf] [--scenario lifecycle]
//        [--count 20000] [--concurrency 8] [--cpu-prof DIR] [--strace FILE]
// --cpu-prof writes a V8 profile into DIR (summarise it with summarize.mjs); --strace runs the
// client under `strace -c -f` and writes the syscall table to FILE. Prints the client's JSON.
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    node: { type: 'string', default: process.execPath },
    peer: { type: 'string', default: 'wharf' },
    scenario: { type: 'string', default: 'lifecycle' },
    count: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '8' },
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
const echo = spawn(process.execPath, ['-e', echoSource], { stdio: ['ignore', 'pipe', 'inherit'] })
try {
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo server did not start')), 10_000)
    echo.stdout.once('data', (c) => {
      clearTimeout(timer)
      resolve(Number(String(c).trim()))
    })
  })
  const params = { port, count: Number(values.count), concurrency: Number(values.concurrency) }
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
    values.scenario,
    JSON.stringify(params),
  ]
  const [cmd, args] = values.strace
    ? ['strace', ['-c', '-f', '-o', values.strace, values.node, ...clientArgs]]
    : [values.node, clientArgs]
  const out = await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
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
  echo.kill('SIGTERM')
}
