// A node:http server behind cloudflare:node's httpServerHandler / handleAsNodeRequest (the
// nodejs-http-server template, Express's `app.listen()`), against workerd itself: the same
// Worker file runs in both, and each request must get the same answer. `/inner/*` compares the
// Response handleAsNodeRequest returns exactly, framing headers included.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, type Wharf } from './helpers.js'
import { startSideBySide, type RunningWorkerd } from './workerd-helpers.js'

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
  let workerd: RunningWorkerd
  let wharf: Wharf
  let stop: (() => Promise<void>) | undefined
  before(async () => {
    ;({ workerd, wharf, stop } = await startSideBySide(
      DIR,
      {
        modules: [{ name: 'worker.js', type: 'esModule', file: join(DIR, 'worker.js') }],
        compatibilityDate: CONFIG.compatibility_date,
        compatibilityFlags: CONFIG.compatibility_flags,
        readyPath: '/listen-state',
      },
      ['--no-watch', '--isolation', 'none']
    ))
  })
  after(async () => {
    await stop?.()
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
