// The runtime process has no network of its own: node:net, fetch() and hand-written broker
// requests all meet the egress policy (or nothing at all). Through a real `wharf dev` and a real
// loopback server that counts every connection it accepts.
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, startWharf, type Wharf } from './helpers.js'

describe('wharf dev: the Worker cannot reach the network except through the policy', () => {
  let denied: Wharf
  let allowed: Wharf
  let open: Wharf
  let server: http.Server
  let port = 0
  let hits = 0

  before(async () => {
    server = http.createServer((_req, res) => {
      hits++
      res.end('ok')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
    denied = await startWharf(join(FIXTURES, 'escape'), ['--no-watch'])
    allowed = await startWharf(join(FIXTURES, 'escape'), [
      '--no-watch',
      '--allow',
      `127.0.0.1:${port}`,
    ])
    open = await startWharf(join(FIXTURES, 'escape'), ['--no-watch', '--isolation', 'none'])
  })
  after(async () => {
    await Promise.all([denied.stop(), allowed.stop(), open.stop()])
    server.close()
  })

  it('runs the Worker in its own network namespace (this machine can make one)', () => {
    assert.match(denied.output(), /Worker isolation: network namespace/)
  })

  it('node:net used directly reaches nothing, even an address the policy would allow', async () => {
    for (const wharf of [denied, allowed]) {
      const reply = await get(`${wharf.url}/net?port=${port}`)
      assert.match(reply.body, /^refused: /, reply.body)
    }
    assert.equal(hits, 0)
  })

  it('fetch() and cloudflare:sockets go through the policy: denied by default, allowed when allowed', async () => {
    assert.match((await get(`${denied.url}/fetch?port=${port}`)).body, /^refused: /)
    assert.match(
      (await get(`${denied.url}/socket?port=${port}`)).body,
      /^refused: proxy request failed/
    )
    assert.equal(hits, 0)
    assert.equal((await get(`${allowed.url}/fetch?port=${port}`)).body, 'reached: 200')
    assert.equal(hits, 1)
    assert.equal((await get(`${allowed.url}/socket?port=${port}`)).body, 'reached: opened')
  })

  it('a hand-written dial request to the broker is still checked by the policy', async () => {
    const before = hits
    const reply = await get(`${denied.url}/broker?port=${port}`)
    assert.match(reply.body, /^refused: egress denied by deny default:local/)
    assert.equal(hits, before)
    await denied.waitFor(/\[wharf:egress\] denied 127\.0\.0\.1:\d+ by deny default:local/)
  })
  it('with --isolation none the policy still governs sockets and fetch, but node:net gets through', async () => {
    assert.match(open.output(), /Worker isolation: none/)
    assert.match(
      (await get(`${open.url}/socket?port=${port}`)).body,
      /^refused: proxy request failed/
    )
    assert.match((await get(`${open.url}/fetch?port=${port}`)).body, /^refused: /)
    const before = hits
    // The documented caveat of "none": Worker code using node:net directly is not stopped.
    assert.equal((await get(`${open.url}/net?port=${port}`)).body, 'reached: connected')
    assert.equal(hits, before, 'a bare TCP connect makes no HTTP request')
  })
})
