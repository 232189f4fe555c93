// Request and response bodies stream through the host: a 3 MiB upload echoed back by the Worker,
// a 6 MiB streamed response read slowly (backpressure), and repeated Set-Cookie headers. Bodies
// made from bytes or a string are sent whole (http-bridge.ts), as the Worker's Response holds them.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, startWharf, type Wharf } from './helpers.js'

function request(
  url: string,
  method: string,
  body?: Buffer,
  slow = false
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => {
        chunks.push(c)
        if (slow) {
          res.pause()
          setTimeout(() => res.resume(), 1)
        }
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
      )
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(body)
  })
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

describe('wharf dev: bodies', () => {
  let wharf: Wharf
  before(async () => {
    wharf = await startWharf(join(FIXTURES, 'scope'), ['--no-watch'])
  })
  after(async () => {
    await wharf.stop()
  })

  it('streams a 3 MiB request body to the Worker and back', async () => {
    const body = randomBytes(3 << 20)
    const reply = await request(`${wharf.url}/echo-body`, 'POST', body)
    assert.equal(reply.status, 200)
    assert.equal(reply.headers['x-method'], 'POST')
    assert.equal(reply.body.length, body.length)
    assert.equal(sha(reply.body), sha(body))
  })

  it('streams a 6 MiB response to a slow reader, with both Set-Cookie headers', async () => {
    const reply = await request(`${wharf.url}/big?chunks=96`, 'GET', undefined, true)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.length, 96 * 65536)
    assert.equal(reply.body[0], 1)
    assert.equal(reply.body[reply.body.length - 1], 96)
    assert.deepEqual(reply.headers['set-cookie'], ['a=1', 'b=2'])
  })

  it('sends a body made from bytes whole, as the Response copied it, and uses it up', async () => {
    const reply = await request(`${wharf.url}/fixed`, 'GET')
    assert.equal(reply.status, 200)
    assert.equal(reply.headers['x-fixed'], 'yes')
    assert.equal(reply.headers['content-length'], '6')
    assert.equal(reply.headers['transfer-encoding'], undefined)
    assert.equal(reply.body.toString(), 'héllo')
    // As after reading it: the Worker's Response reports its body used.
    assert.equal((await request(`${wharf.url}/fixed-used`, 'GET')).body.toString(), 'true')
  })

  it("frames the body itself, as workerd: the Worker's connection and framing headers are dropped", async () => {
    const fixed = await request(`${wharf.url}/framing`, 'GET')
    // `content-length: 5` on a two-byte body would leave the client waiting for three more.
    assert.equal(fixed.body.toString(), 'hi')
    assert.equal(fixed.headers['content-length'], '2')
    // (the request above asked for close; this one keeps the connection, the Worker's `close` not)
    const agent = new http.Agent({ keepAlive: true })
    const kept = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`${wharf.url}/framing`, { agent }, resolve).on('error', reject)
    )
    kept.resume()
    agent.destroy()
    assert.equal(kept.headers.connection, 'keep-alive')
    for (const name of ['upgrade', 'te', 'trailer']) assert.equal(fixed.headers[name], undefined)
    assert.notEqual(fixed.headers['keep-alive'], 'timeout=1')
    assert.equal(fixed.headers['proxy-connection'], 'kept')
    const streamed = await request(`${wharf.url}/framing?stream`, 'GET')
    assert.equal(streamed.body.toString(), 'abcd')
    assert.equal(streamed.headers['content-length'], undefined)
    assert.equal(streamed.headers['transfer-encoding'], 'chunked')
    const head = await request(`${wharf.url}/framing`, 'HEAD')
    assert.equal(head.headers['content-length'], '2', "HEAD: the body's length, as workerd")
    assert.equal(head.body.length, 0)
  })

  it('sends nothing of a string body the Worker read itself', async () => {
    const reply = await request(`${wharf.url}/partly-read`, 'GET')
    assert.equal(reply.status, 200)
    assert.equal(reply.headers['content-length'], '0')
    assert.equal(reply.body.length, 0)
  })
})
