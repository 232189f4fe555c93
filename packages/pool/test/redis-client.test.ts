// The small Redis client (`@wharf/pool/redis`) against a real redis-server: a command's timeout
// is about Redis being slow, not this process. A reply that arrived while the process was busy
// answers its command even when the timer is already due; a server that really does not answer
// still times the command out, and the connection is made again for the next command.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { RedisClient } from '../src/redis.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'

/** Keeps this thread busy (no event loop turn) for `ms`. */
function stall(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) {
    // busy
  }
}

describe('RedisClient: command timeouts', () => {
  let redis: RedisServer
  let client: RedisClient

  before(async () => {
    redis = await startRedis()
    client = new RedisClient({
      host: '127.0.0.1',
      port: redis.port,
      password: redis.password,
      db: 0,
    })
    assert.equal(String(await client.run(['PING'], 1000)), 'PONG')
  })
  after(async () => {
    await client.close()
    await redis.stop()
  })

  it('a reply that arrived while this process was stalled past the timeout still answers', async () => {
    for (let i = 0; i < 5; i++) {
      const reply = client.run(['SET', `stalled:${i}`, String(i)], 50)
      // Sent in this turn's microtasks. The stall comes after this turn's poll phase, before the
      // reply is read: the next turn starts with the 50 ms timer due and the reply in the
      // socket's buffer.
      setImmediate(() => stall(200))
      assert.equal(String(await reply), 'OK')
    }
    // Nothing was dropped: the same connection answers in order.
    assert.equal(String(await client.run(['GET', 'stalled:4'], 1000)), '4')
  })

  it('a server that does not answer still times out, and the next command reconnects', async () => {
    // A listener that accepts and never replies stands in for a hung Redis.
    const silent = net.createServer((socket) => socket.resume())
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as net.AddressInfo).port
    const hung = new RedisClient({ host: '127.0.0.1', port, password: undefined, db: 0 })
    try {
      const started = Date.now()
      await assert.rejects(hung.run(['PING'], 100), /redis timed out/)
      const took = Date.now() - started
      assert.ok(took >= 100 && took < 3000, `timed out after ${took} ms`)
    } finally {
      await hung.close()
      await new Promise((resolve) => silent.close(resolve))
    }
    // The real one is unaffected.
    assert.equal(String(await client.run(['PING'], 1000)), 'PONG')
  })
})
