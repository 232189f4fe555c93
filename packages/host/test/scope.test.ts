// Workers' request rules for sockets, through real HTTP requests to a running `wharf dev` and
// real loopback TCP servers (workerd's request-scope rules, as docs/host.md describes them).
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  ALLOW_TEST_SERVERS,
  FIXTURES,
  echoServer,
  get,
  startWharf,
  until,
  type TestServer,
  type Wharf,
} from './helpers.js'

const GLOBAL_SCOPE =
  'Disallowed operation called within global scope. Asynchronous I/O (ex: fetch() or connect()), setting a timeout, and generating random values are not allowed within global scope. To fix this error, perform this operation within a handler. https://developers.cloudflare.com/workers/runtime-apis/handlers/'
const CROSS_REQUEST =
  "Cannot perform I/O on behalf of a different request. I/O objects (such as streams, request/response bodies, and others) created in the context of one request handler cannot be accessed from a different request's handler. This is a limitation of Cloudflare Workers which allows us to improve overall performance. (I/O type: Writable)"
const CONNECT_FAILED = 'proxy request failed, cannot connect to the specified address'

describe('wharf dev: request scope of sockets', () => {
  let wharf: Wharf
  let server: TestServer
  const path = (p: string, query = ''): string => `${wharf.url}${p}?port=${server.port}${query}`

  before(async () => {
    server = await echoServer()
    wharf = await startWharf(join(FIXTURES, 'scope'), ['--allow', ALLOW_TEST_SERVERS, '--no-watch'])
  })
  after(async () => {
    await wharf.stop()
    await server.close()
  })

  it('connect() in global scope throws workerd’s error', async () => {
    const reply = await get(`${wharf.url}/global`)
    assert.equal(reply.body, GLOBAL_SCOPE)
  })

  it('closes a socket the Worker leaked once the response is done (the server sees FIN)', async () => {
    const before = server.conns.length
    const reply = await get(path('/leak'))
    assert.equal(reply.body, 'leak\n')
    const conn = server.conns[before]
    assert.ok(conn, 'the server saw the connection')
    await Promise.race([
      conn.ended$,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no FIN within 3 s')), 3000)),
    ])
    assert.equal(conn.ended, true)
  })

  it('ctx.waitUntil keeps the socket usable after the response, then it is closed', async () => {
    const before = server.conns.length
    const reply = await get(path('/wait-until'))
    assert.equal(reply.body, 'sent')
    // The server may see the connection after the test sees the response: wait for it.
    await until(() => server.conns.length > before, 5000, 'the connection')
    const conn = server.conns[before]
    assert.ok(conn)
    assert.equal(conn.data, '', 'nothing written before the response')
    await until(() => conn.data === 'late\n', 5000, 'the late write')
    await until(() => conn.ended, 5000, 'FIN after waitUntil')
  })

  it('using a socket from another request throws workerd’s cross-request error', async () => {
    const before = server.conns.length
    assert.equal((await get(path('/hold'))).body, 'held')
    assert.equal((await get(path('/use-held'))).body, CROSS_REQUEST)
    const conn = server.conns[before]
    assert.ok(conn)
    assert.equal(conn.data, '', 'the cross-request write never reached the server')
    assert.equal(conn.ended, false, 'the holding request is still running (waitUntil)')
    assert.equal((await get(path('/release'))).body, 'released')
    await until(() => conn.ended, 5000, 'FIN once the holding request ended')
  })

  it('a 7th concurrent connect() waits until one of the 6 open sockets closes', async () => {
    const before = server.conns.length
    const reply = await get(path('/seven'))
    assert.equal(reply.status, 200, reply.body)
    const { openedAt, closedAt, seventhBeforeClose } = JSON.parse(reply.body) as {
      openedAt: number[]
      closedAt: number
      seventhBeforeClose: number
    }
    assert.equal(seventhBeforeClose, -1, 'the 7th was not open before a slot freed')
    for (const t of openedAt.slice(0, 6)) assert.ok(t >= 0 && t <= closedAt, `opened at ${t}`)
    assert.ok(
      (openedAt[6] ?? -1) >= closedAt,
      `7th opened at ${openedAt[6]}, closed at ${closedAt}`
    )
    assert.equal(server.conns.length - before, 7)
  })

  it('a queued connect() fails with a clear message after the queue timeout', async () => {
    const started = Date.now()
    const reply = await get(path('/queue-timeout'))
    assert.match(reply.body, /^wharf: connect\(\) waited 1000 ms in the queue/)
    assert.ok(Date.now() - started >= 900)
  })

  it('refuses port 25 with Cloudflare’s message', async () => {
    const reply = await get(`${wharf.url}/connect?to=127.0.0.1:25`)
    assert.equal(reply.body, 'Connections to port 25 are prohibited')
  })

  it('an egress denial looks like a network failure; the server sees nothing; the host logs the rule', async () => {
    const denied = await echoServer('127.0.0.2')
    try {
      const reply = await get(`${wharf.url}/connect?to=127.0.0.2:${denied.port}`)
      assert.equal(reply.body, CONNECT_FAILED)
      await wharf.waitFor(
        new RegExp(`\\[wharf:egress\\] denied 127\\.0\\.0\\.2:${denied.port} by \\S+`),
        3000
      )
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(denied.conns.length, 0)
    } finally {
      await denied.close()
    }
  })

  it('refuses a connection back into the host itself, even where loopback is allowed', async () => {
    const self = new URL(wharf.url).host
    const reply = await get(`${wharf.url}/connect?to=${self}`)
    assert.equal(reply.body, CONNECT_FAILED)
    await wharf.waitFor(new RegExp(`denied ${self.replace(/\./g, '\\.')} by deny host:self`), 3000)
  })

  it('survives a Worker that exits its process: a fresh runtime serves the next request', async () => {
    assert.equal((await get(`${wharf.url}/exit`)).body, 'exiting')
    await wharf.waitFor(/the Worker process exited \(code 3\); restarting it/, 5000)
    let reply = { status: 0, body: '' }
    for (let i = 0; i < 50 && reply.status !== 200; i++) {
      reply = await get(`${wharf.url}/`).catch(() => ({ status: 0, body: '' }))
      if (reply.status !== 200) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(reply.status, 200)
    assert.equal((await get(`${wharf.url}/global`)).body, GLOBAL_SCOPE)
  })

  it('a client that disconnects mid-request does not leak the request’s socket', async () => {
    const before = server.conns.length
    await new Promise<void>((resolve) => {
      const req = http.get(path('/slow'), { agent: false })
      req.on('error', () => resolve())
      setTimeout(() => {
        req.destroy()
        resolve()
      }, 100)
    })
    await until(() => server.conns.length > before, 3000, 'the Worker’s connection')
    const conn = server.conns[before]
    assert.ok(conn)
    await until(() => conn.ended, 5000, 'FIN after the abandoned request ended')
    await wharf.waitFor(/GET \/slow\?port=\d+ canceled \(the client disconnected\)/, 3000)
    assert.equal((await get(`${wharf.url}/`)).status, 200)
  })

  it('an uncaught exception gives a 500 and a logged stack; the host keeps serving', async () => {
    const reply = await get(`${wharf.url}/throw`)
    assert.equal(reply.status, 500)
    assert.match(reply.body, /boom from the worker/)
    await wharf.waitFor(/\[wharf:error\] Error: boom from the worker\n\s+at /)
    await wharf.waitFor(/GET \/throw 500 Internal Server Error \(\d+ms\)/)
    assert.equal((await get(`${wharf.url}/throw-later`)).body, 'ok')
    await wharf.waitFor(/late boom from a timer/)
    assert.equal((await get(`${wharf.url}/`)).status, 200)
  })
})
