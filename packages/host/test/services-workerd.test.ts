// Service bindings, the connect() handler and Outbound Workers against workerd itself
// (tools/workerd, the pinned oracle): the same Worker files (fixtures/services/) run as several
// Workers in one workerd, in one `wharf dev` and in one `wharf serve` (two runtime processes for
// the callee, so the cases cross runtimes of one pool), and every case must answer the same.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort } from '../../../test-support/servers.js'
import { FIXTURES, ROOT, get, startWharf } from './helpers.js'
import { startServed } from './serve-helpers.js'

const DATE = '2026-11-01'
const SERVICE_CASES = [
  'echo',
  'object',
  'line',
  'halfOpen',
  'noHandler',
  'fetch',
  'named',
  'plainFetch',
  'tls',
  'startTls',
]
const OUTBOUND_CASES = ['fetch', 'refused', 'connect', 'connect443']
const FILES = ['caller.js', 'callee.js', 'plain.js', 'user.js', 'outbound.js']

const dir = mkdtempSync(join(tmpdir(), 'wharf-services-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function worker(name: string, extra = ''): string {
  return `( name = "${name}", worker = (
      modules = [ ( name = "${name}.js", esModule = embed "${name}.js" ) ],
      compatibilityDate = "${DATE}"${extra} ) )`
}

async function answers(
  who: string,
  base: string,
  cases: readonly string[]
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const name of cases) {
    try {
      out[name] = JSON.parse((await get(`${base}/${name}`, 15_000)).body)
    } catch (error) {
      throw new Error(`${who}, case ${name}: ${(error as Error).message}`, { cause: error })
    }
  }
  return out
}

async function workerdAnswers(): Promise<Record<string, Record<string, unknown>>> {
  const { ensureWorkerd } = (await import(join(ROOT, 'scripts', 'ensure-workerd.mjs'))) as {
    ensureWorkerd: () => string
  }
  const home = join(dir, 'workerd')
  mkdirSync(home)
  for (const f of FILES) copyFileSync(join(FIXTURES, 'services', f), join(home, f))
  const [servicesPort, outboundPort] = [await freePort(), await freePort()]
  writeFileSync(
    join(home, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${worker(
      'caller',
      `, bindings = [ (name = "BACKEND", service = "callee"), (name = "PLAIN", service = "plain"),
        (name = "NAMED", service = (name = "callee", entrypoint = "Named")) ]`
    )},
    ${worker('callee')},
    ${worker('plain')},
    ${worker('user', ', globalOutbound = "outbound"')},
    ${worker('outbound', ', bindings = [ (name = "PARAM", text = "p1") ]')},
  ],
  sockets = [
    ( name = "services", address = "127.0.0.1:${servicesPort}", http = (), service = "caller" ),
    ( name = "outbound", address = "127.0.0.1:${outboundPort}", http = (), service = "user" ),
  ],
);
`
  )
  const child = spawn(ensureWorkerd(), ['serve', join(home, 'config.capnp')], { stdio: 'ignore' })
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        await get(`http://127.0.0.1:${servicesPort}/none`, 2000)
        break
      } catch (error) {
        if (Date.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    return {
      services: await answers('workerd', `http://127.0.0.1:${servicesPort}`, SERVICE_CASES),
      outbound: await answers('workerd', `http://127.0.0.1:${outboundPort}`, OUTBOUND_CASES),
    }
  } finally {
    child.kill('SIGKILL')
  }
}

type Mode = 'dev' | 'serve'

/** One directory and wrangler.json per Worker, as a multi-config project has them. */
function project(mode: Mode, name: string, config: Record<string, unknown>): string {
  const home = join(dir, mode, name)
  mkdirSync(home, { recursive: true })
  copyFileSync(join(FIXTURES, 'services', `${name}.js`), join(home, `${name}.js`))
  const file = join(home, 'wrangler.json')
  writeFileSync(
    file,
    JSON.stringify({ name, main: `${name}.js`, compatibility_date: DATE, ...config })
  )
  return file
}

async function wharfAnswers(mode: Mode): Promise<Record<string, Record<string, unknown>>> {
  const caller = project(mode, 'caller', {
    services: [
      { binding: 'BACKEND', service: 'callee' },
      { binding: 'PLAIN', service: 'plain' },
      { binding: 'NAMED', service: 'callee', entrypoint: 'Named' },
    ],
  })
  const user = project(mode, 'user', {
    wharf: { outbound: { service: 'outbound', params: { PARAM: 'p1' } } },
  })
  const others = [
    project(mode, 'callee', { wharf: { serve: { processes: 2 } } }),
    project(mode, 'plain', {}),
  ]
  const outbound = project(mode, 'outbound', {})
  const start = (files: string[]): Promise<{ url: string; stop(): Promise<unknown> }> => {
    const flags = files.flatMap((f) => ['-c', f])
    return mode === 'dev'
      ? startWharf(dir, [...flags, '--no-watch'], 60_000)
      : startServed(dir, [...flags, '--processes', '1'], 60_000)
  }
  const services = await start([caller, ...others])
  try {
    const outboundHost = await start([user, outbound])
    try {
      return {
        services: await answers(`wharf ${mode}`, services.url, SERVICE_CASES),
        outbound: await answers(`wharf ${mode}`, outboundHost.url, OUTBOUND_CASES),
      }
    } finally {
      await outboundHost.stop()
    }
  } finally {
    await services.stop()
  }
}

describe('service bindings, connect() handlers and Outbound Workers, against workerd 1.20261117.1', () => {
  let oracle: Record<string, Record<string, unknown>>
  const ours: Partial<Record<Mode, Record<string, Record<string, unknown>>>> = {}
  before(async () => {
    oracle = await workerdAnswers()
    ours.dev = await wharfAnswers('dev')
    ours.serve = await wharfAnswers('serve')
  })
  for (const mode of ['dev', 'serve'] as const) {
    for (const name of SERVICE_CASES) {
      it(`wharf ${mode}: service binding: ${name}`, () => {
        assert.deepEqual(ours[mode]?.services?.[name], oracle.services?.[name])
        assert.equal(typeof oracle.services?.[name], 'object')
      })
    }
    for (const name of OUTBOUND_CASES) {
      it(`wharf ${mode}: Outbound Worker: ${name}`, () => {
        assert.deepEqual(ours[mode]?.outbound?.[name], oracle.outbound?.[name])
      })
    }
  }
  it('workerd answered every case without throwing (the cases test something)', () => {
    for (const group of Object.values(oracle)) {
      for (const [name, answer] of Object.entries(group)) {
        // tls: connect() itself throws in workerd (what the case checks).
        const thrown = (answer as { thrown?: unknown }).thrown
        if (name === 'tls') assert.equal(thrown, 'Error: Incoming CONNECT with TLS not supported')
        else assert.equal(thrown, undefined, JSON.stringify(answer))
      }
    }
  })
})
