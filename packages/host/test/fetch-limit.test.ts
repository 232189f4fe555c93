// fetch() counts toward the per-request limit while it waits for response headers (Cloudflare's
// rule since 2026-04-09): of seven concurrent fetches, six reach the server; the seventh starts
// only when one of the six has its headers.
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, startWharf, until, type Wharf } from './helpers.js'

describe('wharf dev: fetch() and the simultaneous-connection limit', () => {
  let wharf: Wharf
  let server: http.Server
  const held: http.ServerResponse[] = []
  let seen = 0

  before(async () => {
    server = http.createServer((_req, res) => {
      seen++
      held.push(res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    wharf = await startWharf(join(FIXTURES, 'fetch-limit'), [
      '--no-watch',
      '--allow',
      `127.0.0.1:${port}`,
    ])
  })
  after(async () => {
    for (const res of held) res.destroy()
    server.closeAllConnections()
    server.close()
    await wharf.stop()
  })

  it('a seventh fetch waits until one of six has its response headers', async () => {
    const port = (server.address() as AddressInfo).port
    const reply = get(`${wharf.url}/?port=${port}`, 20_000)
    await until(() => seen === 6, 10_000, 'six fetches reached the server')
    // Give a seventh (wrongly admitted) fetch time to arrive.
    await new Promise((r) => setTimeout(r, 500))
    assert.equal(seen, 6)
    // Headers for one: its slot is freed although its body is still open.
    const first = held[0]
    assert.ok(first)
    first.writeHead(200, { 'content-type': 'text/plain' })
    first.flushHeaders()
    await until(() => seen === 7, 10_000, 'the seventh fetch started')
    first.end('r')
    for (const res of held.slice(1)) res.end('r')
    assert.equal((await reply).body, 'r,r,r,r,r,r,r')
  })
})
