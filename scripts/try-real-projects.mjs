#!/usr/bin/env node
// Runs real Worker projects, unmodified, under `wharf dev` and reports what each one did.
// Uses only local files: pass the paths of project checkouts (with their npm dependencies
// installed). Nothing is fetched and nothing is written into the checkouts except what
// `wharf dev` itself writes (nothing, unless the project asks for it).
//
//   node scripts/try-real-projects.mjs [--pg postgres://…] [--my mysql://…] [--probe PATH]...
//                                      [--post PATH=JSON]... [--allow RULE]... [--var KEY:VALUE]...
//                                      [--serve [--processes N]]
//                                      DIR|SCRIPT...
//
// --pg (or --my, for a project whose bindings are mysql://) sets
// CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING> for every hyperdrive binding of the
// project (the project's own localConnectionString is used otherwise). --post sends a POST with a
// JSON body after the GETs, in order. A file instead of a directory runs `wharf dev SCRIPT`. Each project is
// started, waited for (Ready or an error, 30 s at most), sent GET for each probe path (default
// `/`), and stopped. Cold start to Ready is measured for each. --serve runs `wharf serve` (N
// runtime processes, default 2) instead of `wharf dev`.
import { spawn } from 'node:child_process'
import { readFileSync, existsSync, statSync } from 'node:fs'
import http from 'node:http'
import { basename, dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const root = resolve(import.meta.dirname, '..')
const bin = join(root, 'packages/host/bin/wharf.js')

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    pg: { type: 'string' },
    my: { type: 'string' },
    post: { type: 'string', multiple: true },
    probe: { type: 'string', multiple: true },
    allow: { type: 'string', multiple: true },
    var: { type: 'string', multiple: true },
    timeout: { type: 'string', default: '30000' },
    serve: { type: 'boolean', default: false },
    processes: { type: 'string', default: '2' },
  },
})
if (positionals.length === 0) {
  console.error('usage: node scripts/try-real-projects.mjs [--pg URL] [--probe PATH]... DIR...')
  process.exit(2)
}
const timeoutMs = Number(values.timeout)

function bindings(target) {
  const dir = statSync(target).isDirectory() ? target : dirname(target)
  for (const name of ['wrangler.json', 'wrangler.jsonc', 'wrangler.toml']) {
    const file = join(dir, name)
    if (!existsSync(file)) continue
    const text = readFileSync(file, 'utf8')
    return [...text.matchAll(/"binding"\s*:\s*"([A-Za-z_][A-Za-z0-9_]*)"/g)].map((m) => m[1])
  }
  return []
}

function get(url, body) {
  return new Promise((resolveGet) => {
    const options = { agent: false, timeout: 15_000 }
    if (body !== undefined) {
      options.method = 'POST'
      options.headers = { 'content-type': 'application/json' }
    }
    const req = http.request(url, options, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => {
        if (body.length < 4096) body += c
      })
      res.on('end', () =>
        resolveGet({ status: res.statusCode, type: res.headers['content-type'], body })
      )
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (error) => resolveGet({ status: 0, body: error.message }))
    req.end(body)
  })
}

async function tryProject(dir) {
  const env = { ...process.env }
  const origin = values.pg ?? values.my
  if (origin !== undefined) {
    for (const b of bindings(dir))
      env[`CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${b}`] = origin
  }
  const args = values.serve
    ? [bin, 'serve', dir, '--port', '0', '--processes', values.processes]
    : [bin, 'dev', dir, '--port', '0', '--no-watch']
  for (const rule of values.allow ?? []) args.push('--allow', rule)
  for (const v of values.var ?? []) args.push('--var', v)
  const started = performance.now()
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c) => (out += c))
  child.stderr.on('data', (c) => (out += c))
  const outcome = await new Promise((resolveStart) => {
    const timer = setTimeout(() => resolveStart({ kind: 'timeout' }), timeoutMs)
    const check = () => {
      const ready = /(?:Ready on|serving \S+ on) (http:\/\/[^\s,]+)/.exec(out)
      if (ready) {
        clearTimeout(timer)
        resolveStart({ kind: 'ready', url: ready[1], ms: Math.round(performance.now() - started) })
      }
    }
    child.stdout.on('data', check)
    child.stderr.on('data', check)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolveStart({ kind: 'exited', code })
    })
  })
  const report = { project: basename(dir), dir, outcome: outcome.kind, probes: [] }
  if (outcome.kind === 'ready') {
    report.readyMs = outcome.ms
    for (const path of values.probe ?? ['/']) {
      const reply = await get(`${outcome.url}${path}`)
      report.probes.push({
        path: `GET ${path}`,
        status: reply.status,
        type: reply.type,
        body: reply.body.slice(0, 300),
      })
    }
    for (const spec of values.post ?? []) {
      const at = spec.indexOf('=')
      const path = at < 0 ? spec : spec.slice(0, at)
      const reply = await get(`${outcome.url}${path}`, at < 0 ? '' : spec.slice(at + 1))
      report.probes.push({
        path: `POST ${path}`,
        status: reply.status,
        type: reply.type,
        body: reply.body.slice(0, 300),
      })
    }
  }
  if (child.exitCode === null) {
    child.kill('SIGTERM')
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL')
        r()
      }, 5000)
      child.on('exit', () => {
        clearTimeout(t)
        r()
      })
    })
  }
  report.log = out.split('\n').slice(0, 40).join('\n')
  return report
}

let failed = 0
for (const dir of positionals) {
  const report = await tryProject(resolve(dir))
  console.log(
    `\n=== ${report.project}: ${report.outcome}${report.readyMs === undefined ? '' : ` (Ready in ${report.readyMs} ms)`}`
  )
  for (const p of report.probes)
    console.log(`${p.path} -> ${p.status} ${p.type ?? ''}\n  ${p.body.replace(/\n/g, '\n  ')}`)
  console.log(`--- log\n${report.log}`)
  if (report.outcome !== 'ready' || report.probes.some((p) => p.status !== 200)) failed++
}
console.log(`\n${positionals.length - failed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
