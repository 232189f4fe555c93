// A node:http server behind cloudflare:node's httpServerHandler / handleAsNodeRequest (the
// nodejs-http-server template, Express's `app.listen()`), against workerd itself: the same
// Worker file runs in both, and each request must get the same answer. `/inner/*` compares the
// Response handleAsNodeRequest returns exactly, framing headers included.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort } from '../../../test-support/servers.js'
import { FIXTURES, ROOT, get, startWharf, type Wharf } from './helpers.js'

const DIR = join(FIXTURES, 'node-http-server')
const CONFIG = JSON.parse(readFileSync(join(DIR, 'wrangler.json'), 'utf8')) as {
  compatibility_date: string
  compatibility_flags: string[]
}

interface Answer {
  status: number
  statusText: string
  body: string
  headers: Record<string, string>
}

/** Headers the Worker's code decides; the listener's own (date, connection, framing) are left out. */
const WORKER_HEADERS = ['content-type', 'x-seen', 'set-cookie']

async function ask(origin: string, path: string, init?: RequestInit): Promise<Answer> {
  const res = await fetch(`${origin}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })
  const headers: Record<string, string> = {}
  for (const name of WORKER_HEADERS) {
    const value =
      name === 'set-cookie' ? res.headers.getSetCookie().join(' | ') : res.headers.get(name)
    if (value !== null && value !== '') headers[name] = value
  }
  return { status: res.status, statusText: res.statusText, body: await res.text(), headers }
}

async function startWorkerd(): Promise<{ origin: string; stop: () => void }> {
  const { ensureWorkerd } = (await import(join(ROOT, 'scripts', 'ensure-workerd.mjs'))) as {
    ensureWorkerd: () => string
  }
  const dir = mkdtempSync(join(tmpdir(), 'wharf-node-http-'))
  const port = await freePort()
  writeFileSync(join(dir, 'worker.js'), readFileSync(join(DIR, 'worker.js')))
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ( name = "main", worker = (
    modules = [ ( name = "worker.js", esModule = embed "worker.js" ) ],
    compatibilityDate = "${CONFIG.compatibility_date}",
    compatibilityFlags = [${CONFIG.compatibility_flags.map((f) => JSON.stringify(f)).join(', ')}],
  ) ) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
`
  )
  const child: ChildProcess = spawn(ensureWorkerd(), ['serve', join(dir, 'config.capnp')], {
    stdio: 'ignore',
  })
  const stop = (): void => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  const origin = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      await get(`${origin}/listen-state`, 2000)
      return { origin, stop }
    } catch (error) {
      if (Date.now() > deadline) {
        stop()
        throw error
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

const BIG = 'x'.repeat(300_000)

const CASES: [string, string, RequestInit?][] = [
  ['the page', '/'],
  ['a JSON route with a query', '/json?q=a%20b'],
  ['a 404 with its own reason phrase', '/missing'],
  ['a streamed response', '/stream'],
  ['204 with two cookies', '/cookies'],
  ['a POST body', '/echo?x=1', { method: 'POST', body: 'hello', headers: { 'x-custom': 'c1' } }],
  ['a 300 kB POST body', '/echo', { method: 'POST', body: BIG }],
  ['HEAD', '/json', { method: 'HEAD' }],
  ['the server on an ephemeral port', '/ephemeral?y=2'],
  ['no server on the port', '/no-port'],
  ['a server closed before the request', '/closed-port'],
  ['listen() state: events, EADDRINUSE, address, close', '/listen-state'],
  ['inner: the page', '/inner/'],
  ['inner: JSON', '/inner/json?q=1'],
  ['inner: 404', '/inner/missing'],
  ['inner: streamed', '/inner/stream'],
  ['inner: cookies', '/inner/cookies'],
  ['inner: POST', '/inner/echo', { method: 'POST', body: 'abc', headers: { 'x-custom': 'c2' } }],
]

describe('cloudflare:node httpServerHandler, against workerd 1.20261117.1', () => {
  let workerd: { origin: string; stop: () => void }
  let wharf: Wharf
  before(async () => {
    ;[workerd, wharf] = await Promise.all([
      startWorkerd(),
      startWharf(DIR, ['--no-watch', '--isolation', 'none']),
    ])
  })
  after(async () => {
    workerd?.stop()
    await wharf?.stop()
  })

  for (const [title, path, init] of CASES) {
    it(`${title}: the same answer`, async () => {
      const [oracle, ours] = await Promise.all([
        ask(workerd.origin, path, init),
        ask(wharf.url, path, init),
      ])
      assert.ok(oracle.status > 0)
      assert.deepEqual(ours, oracle)
    })
  }

  it('an app that throws: a 500, as on workerd, and the next request is served', async () => {
    const [oracle, ours] = await Promise.all([
      ask(workerd.origin, '/throw'),
      ask(wharf.url, '/throw'),
    ])
    assert.equal(oracle.status, 500)
    assert.equal(ours.status, 500)
    assert.equal((await ask(wharf.url, '/json?q=after')).body, '{"ok":true,"query":"after"}')
  })

  // Under --isolation none (this suite's), a real bind would be on the host's own loopback.
  it('binds no port of the host: a server "listening" on 8080 accepts nothing', async () => {
    const state = JSON.parse((await ask(wharf.url, '/listen-state')).body) as {
      address: { port: number }
    }
    assert.equal(state.address.port, 8080)
    const net = await import('node:net')
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: 8080 })
      socket.once('connect', () => {
        socket.destroy()
        resolve('connected')
      })
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
    })
    // Something else on the machine may own 8080; it must not be the Worker's server.
    if (refused === 'connected') {
      const res = await fetch('http://127.0.0.1:8080/json?q=probe').catch(() => undefined)
      assert.notEqual(await res?.text(), '{"ok":true,"query":"probe"}')
    } else assert.equal(refused, 'ECONNREFUSED')
  })
})
