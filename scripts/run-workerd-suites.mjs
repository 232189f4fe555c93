#!/usr/bin/env node
// Runs workerd's own socket test suites (its `node:net`, `node:tls` and STARTTLS tests) under
// `wharf dev`, unmodified, each test as one request, and under the pinned workerd for
// comparison. Uses a local workerd source checkout; nothing is fetched, and nothing of it is
// written into this repository.
//
//   node scripts/run-workerd-suites.mjs WORKERD_SRC [--suite NAME]... [--only TEST]...
//                                       [--no-workerd] [--timeout MS] [--json FILE]
//
// WORKERD_SRC is the root of a workerd checkout (it has src/workerd/api/...). Each suite is a
// test module, its wd-test config (compatibility flags, bindings from the environment, trusted
// certificates) and its sidecar (a Node script printing `NAME=port` lines). The sidecar is
// started on 127.0.0.1, each port is connected to once (as workerd's wd_test does before a
// run), and the module is wrapped in a Worker whose fetch handler runs one exported test per
// request: GET /?test=NAME answers {ok, error}. A test's `ctrl` and `ctx` are the request's.
// The same wrapper runs under `wharf dev` and under `workerd serve`, each with a fresh sidecar,
// so a test that hangs or fails on both is the suite's (or the checkout's version's), not
// wharf's. The report lists every test with its outcome under both.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ensureWorkerd } from './ensure-workerd.mjs'

const root = resolve(import.meta.dirname, '..')
const wharfBin = join(root, 'packages/host/bin/wharf.js')

/** The suites: paths are relative to the checkout's src/workerd/api. */
const SUITES = {
  'net-nodejs': {
    dir: 'node/tests',
    module: 'net-nodejs-test.js',
    wdTest: 'net-nodejs-test.wd-test',
    sidecar: 'net-nodejs-tcp-server.js',
  },
  'tls-nodejs': {
    dir: 'node/tests',
    module: 'tls-nodejs-test.js',
    wdTest: 'tls-nodejs-test.wd-test',
    sidecar: 'tls-nodejs-tcp-server.js',
  },
  'starttls-nodejs': {
    dir: 'tests',
    module: 'starttls-nodejs-test.js',
    wdTest: 'starttls-nodejs-test.wd-test',
    sidecar: 'starttls-nodejs-server.js',
  },
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    suite: { type: 'string', multiple: true },
    only: { type: 'string', multiple: true },
    'no-workerd': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '10000' },
    json: { type: 'string' },
  },
})
if (positionals.length !== 1) {
  console.error('usage: node scripts/run-workerd-suites.mjs WORKERD_SRC [--suite NAME]...')
  process.exit(2)
}
const api = join(resolve(positionals[0]), 'src/workerd/api')
if (!existsSync(api)) {
  console.error(`${api} does not exist: pass the root of a workerd checkout`)
  process.exit(2)
}
const testTimeoutMs = Number(values.timeout)
const suiteNames = values.suite ?? Object.keys(SUITES)
for (const name of suiteNames) {
  if (!(name in SUITES)) {
    console.error(`unknown suite ${name}; one of ${Object.keys(SUITES).join(', ')}`)
    process.exit(2)
  }
}

/** What the wd-test config says: flags, environment bindings and trusted certificate files. */
function readWdTest(file) {
  const text = readFileSync(file, 'utf8')
  const flags = [
    ...(text.match(/compatibilityFlags\s*=\s*\[([^\]]*)\]/)?.[1] ?? '').matchAll(/"([^"]+)"/g),
  ].map((m) => m[1])
  const fromEnv = [
    ...text.matchAll(/name\s*=\s*"([A-Z0-9_]+)"\s*,\s*fromEnvironment\s*=\s*"([A-Z0-9_]+)"/g),
  ].map((m) => ({ name: m[1], env: m[2] }))
  const trusted = [
    ...(text.match(/trustedCertificates\s*=\s*\[([^\]]*)\]/)?.[1] ?? '').matchAll(
      /embed\s+"([^"]+)"/g
    ),
  ].map((m) => m[1])
  return { flags, fromEnv, trusted }
}

/** Starts the sidecar and waits for every port it names; connects to each once. */
async function startSidecar(script, names) {
  const child = spawn(process.execPath, [script], {
    cwd: dirname(script),
    env: { ...process.env, SIDECAR_HOSTNAME: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const ports = {}
  let output = ''
  await new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`sidecar ${basename(script)} did not report ${names.join(', ')}:\n${output}`)
        ),
      15_000
    )
    const onData = (chunk) => {
      output += chunk
      for (const m of output.matchAll(/^([A-Z0-9_]+)=(\d+)$/gm)) ports[m[1]] = m[2]
      if (names.every((n) => n in ports)) {
        clearTimeout(timer)
        resolveReady()
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`sidecar exited (${code}):\n${output}`))
    })
  })
  for (const n of names) {
    await new Promise((done) => {
      const s = net.connect(Number(ports[n]), '127.0.0.1')
      s.resume()
      s.on('connect', () => s.end())
      s.on('close', done)
      s.on('error', () => undefined)
    })
  }
  return { ports, stop: () => child.kill('SIGKILL') }
}

function get(url, timeoutMs) {
  return new Promise((done) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => done({ status: res.statusCode, body }))
      res.on('error', (e) => done({ status: 0, body: String(e) }))
    })
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)))
    req.on('error', (e) => done({ status: 0, body: String(e.message) }))
  })
}

/** The wrapper Worker: one exported test per request. */
const ENTRY = (module) => `import * as suite from './${module}'
const names = Object.keys(suite).filter((k) => typeof suite[k]?.test === 'function')
export default {
  async fetch(request, env, ctx) {
    const name = new URL(request.url).searchParams.get('test')
    if (name === null) return Response.json(names)
    if (!names.includes(name)) return Response.json({ ok: false, error: 'no such test' }, { status: 404 })
    try {
      await suite[name].test({}, env, ctx)
      return Response.json({ ok: true })
    } catch (error) {
      return Response.json({ ok: false, error: String(error?.stack ?? error).slice(0, 2000) })
    }
  },
}
`

/** Starts `wharf dev` on the suite's directory; resolves with its URL once it is Ready. */
async function startWharfDev(work, env) {
  const child = spawn(
    process.execPath,
    [wharfBin, 'dev', work, '--port', '0', '--allow', '127.0.0.1/32'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  const state = { child, log: '', exited: false }
  child.once('exit', () => (state.exited = true))
  const onData = (c) => (state.log += c)
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const deadline = Date.now() + 60_000
  for (;;) {
    const m = state.log.match(/Ready on (http:\/\/[^\s]+)/)
    if (m) return { ...state, url: m[1].replace(/\/$/, ''), state }
    if (state.exited || Date.now() > deadline)
      throw new Error(`wharf dev did not start:\n${state.log}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function runUnderWharf(suite, work, ports, wd) {
  const config = {
    name: 'workerd-suite',
    main: 'entry.js',
    compatibility_date: '2026-11-17',
    compatibility_flags: wd.flags,
    vars: Object.fromEntries(
      wd.fromEnv.map(({ name, env }) => [
        name,
        env === 'SIDECAR_HOSTNAME' ? '127.0.0.1' : ports[env],
      ])
    ),
  }
  writeFileSync(join(work, 'wrangler.json'), JSON.stringify(config, null, 2))
  writeFileSync(join(work, 'entry.js'), ENTRY(suite.module))
  const ca = wd.trusted.map((f) => readFileSync(join(api, suite.dir, f), 'utf8')).join('\n')
  const env = { ...process.env, FORCE_COLOR: '0' }
  if (ca !== '') {
    writeFileSync(join(work, 'trusted.pem'), ca)
    env.NODE_EXTRA_CA_CERTS = join(work, 'trusted.pem')
  }
  let dev = await startWharfDev(work, env)
  const results = {}
  try {
    const names = JSON.parse((await get(`${dev.url}/`, 30_000)).body)
    for (const name of names) {
      if (values.only && !values.only.includes(name)) continue
      const logStart = dev.state.log.length
      const r = await get(`${dev.url}/?test=${encodeURIComponent(name)}`, testTimeoutMs)
      let outcome
      try {
        outcome = JSON.parse(r.body)
      } catch {
        const log = dev.state.log
          .slice(logStart)
          .trim()
          .split('\n')
          .slice(0, process.env.SUITE_LOG_LINES ? Number(process.env.SUITE_LOG_LINES) : 6)
          .join('\n')
        outcome = {
          ok: false,
          error: `status ${r.status}: ${r.body.slice(0, 500)}${log ? `\nlog: ${log}` : ''}`,
        }
      }
      results[name] = outcome
      if (dev.state.exited) {
        results[name].error += ' (wharf dev exited; restarted)'
        dev = await startWharfDev(work, env)
      }
    }
    return { results }
  } finally {
    dev.child.kill('SIGTERM')
  }
}

/** The same wrapper under `workerd serve` (the pinned oracle), one request per test. */
async function runUnderWorkerd(suite, work, ports, wd) {
  const port = await new Promise((done) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address()
      probe.close(() => done(p))
    })
  })
  const text = (v) => JSON.stringify(String(v))
  const bindings = wd.fromEnv
    .map(
      ({ name, env }) =>
        `(name = ${text(name)}, text = ${text(env === 'SIDECAR_HOSTNAME' ? '127.0.0.1' : ports[env])})`
    )
    .join(', ')
  const trusted = existsSync(join(work, 'trusted.pem'))
    ? ', tlsOptions = (trustedCertificates = [embed "trusted.pem"])'
    : ''
  writeFileSync(
    join(work, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = (
      modules = [(name = "entry.js", esModule = embed "entry.js"), (name = ${text(suite.module)}, esModule = embed ${text(suite.module)})],
      compatibilityDate = "2026-11-17",
      compatibilityFlags = [${wd.flags.map(text).join(', ')}],
      bindings = [${bindings}],
      globalOutbound = "internet",
    )),
    (name = "internet", network = (allow = ["private"]${trusted})),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
`
  )
  const child = spawn(ensureWorkerd(), ['serve', '--experimental', join(work, 'config.capnp')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const state = { log: '', exited: false }
  child.once('exit', () => (state.exited = true))
  child.stdout.on('data', (c) => (state.log += c))
  child.stderr.on('data', (c) => (state.log += c))
  const url = `http://127.0.0.1:${port}`
  try {
    const deadline = Date.now() + 30_000
    let list
    for (;;) {
      list = await get(`${url}/`, 2000)
      if (list.status === 200) break
      if (state.exited || Date.now() > deadline)
        throw new Error(`workerd did not start:\n${state.log}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const results = {}
    for (const name of JSON.parse(list.body)) {
      if (values.only && !values.only.includes(name)) continue
      const r = await get(`${url}/?test=${encodeURIComponent(name)}`, testTimeoutMs)
      try {
        results[name] = JSON.parse(r.body)
      } catch {
        results[name] = { ok: false, error: `status ${r.status}: ${r.body.slice(0, 500)}` }
      }
      if (state.exited) throw new Error(`workerd exited at ${name}:\n${state.log.slice(-2000)}`)
    }
    return { results }
  } finally {
    child.kill('SIGKILL')
  }
}

const report = {}
for (const name of suiteNames) {
  const suite = SUITES[name]
  const wd = readWdTest(join(api, suite.dir, suite.wdTest))
  const sidecarPorts = wd.fromEnv.map((b) => b.env).filter((e) => e !== 'SIDECAR_HOSTNAME')
  const work = mkdtempSync(join(tmpdir(), `wharf-suite-${name}-`))
  copyFileSync(join(api, suite.dir, suite.module), join(work, suite.module))
  console.log(`\n=== ${name}: ${suite.module} (flags ${wd.flags.join(', ')}) ===`)
  let sidecar = await startSidecar(join(api, suite.dir, suite.sidecar), sidecarPorts)
  let wharf
  try {
    wharf = await runUnderWharf(suite, work, sidecar.ports, wd)
  } finally {
    sidecar.stop()
  }
  let workerd = { results: {} }
  if (!values['no-workerd']) {
    sidecar = await startSidecar(join(api, suite.dir, suite.sidecar), sidecarPorts)
    try {
      workerd = await runUnderWorkerd(suite, work, sidecar.ports, wd)
    } finally {
      sidecar.stop()
    }
  }
  rmSync(work, { recursive: true, force: true })
  const rows = Object.entries(wharf.results).map(([test, r]) => ({
    test,
    wharf: r.ok,
    workerd: workerd.results[test]?.ok,
    error: r.error,
  }))
  report[name] = rows
  const pass = rows.filter((r) => r.wharf).length
  const differ = rows.filter((r) => r.workerd !== undefined && r.workerd !== r.wharf)
  console.log(
    `wharf ${pass}/${rows.length} pass; workerd ${rows.filter((r) => r.workerd).length}/${rows.filter((r) => r.workerd !== undefined).length}; ${differ.length} differ`
  )
  for (const r of rows) {
    if (r.wharf && r.workerd !== false) continue
    console.log(
      `  ${r.wharf ? 'pass' : 'FAIL'} (workerd ${r.workerd === undefined ? '?' : r.workerd ? 'pass' : 'fail'}) ${r.test}`
    )
    if (!r.wharf) console.log(`      ${String(r.error).split('\n').slice(0, 3).join('\n      ')}`)
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2))
