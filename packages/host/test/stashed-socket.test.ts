// A socket kept in module scope by one request and used by a later one (issue 14): the host
// closes it when the first request ends, and the later request's I/O gets workerd's
// cross-request error, not a stream error from the close (such as "locked to a writer").
import assert from 'node:assert/strict'
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

const crossRequest = (kind: string): string =>
  `Error: Cannot perform I/O on behalf of a different request. I/O objects (such as streams, request/response bodies, and others) created in the context of one request handler cannot be accessed from a different request's handler. This is a limitation of Cloudflare Workers which allows us to improve overall performance. (I/O type: ${kind})`

describe('wharf dev: a socket stashed in module scope', () => {
  let wharf: Wharf
  let server: TestServer

  before(async () => {
    server = await echoServer()
    wharf = await startWharf(join(FIXTURES, 'stashed'), [
      '--allow',
      ALLOW_TEST_SERVERS,
      '--no-watch',
    ])
  })
  after(async () => {
    await wharf.stop()
    await server.close()
  })

  it('is closed when its request ends; a later request gets the cross-request error', async () => {
    const first = server.conns.length
    assert.equal((await get(`${wharf.url}/stash?port=${server.port}`)).body, 'stashed')
    // `opened` resolves when the client's connect completes; the server's accept can come later.
    await until(() => server.conns.length > first, 5000, 'the server saw the connection')
    const conn = server.conns[first]
    assert.ok(conn)
    await until(() => conn.ended, 5000, 'FIN once the stashing request ended')
    assert.equal((await get(`${wharf.url}/write`)).body, crossRequest('Writable'))
    assert.equal((await get(`${wharf.url}/read`)).body, crossRequest('Readable'))
    assert.equal(conn.data, '', 'nothing reached the server')
  })
})
