// A real driver inside a Worker under `wharf dev`: redis-on-workers against a real redis-server,
// through the request-scoped sockets, the egress policy and (when available) the isolated runtime.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { FIXTURES, get, startWharf, type Wharf } from './helpers.js'

describe('wharf dev: a Workers Redis driver, unmodified', () => {
  let redis: RedisServer
  let wharf: Wharf
  let denied: Wharf

  before(async () => {
    redis = await startRedis()
    const url = `redis://:${redis.password}@127.0.0.1:${redis.port}`
    wharf = await startWharf(join(FIXTURES, 'redis'), [
      '--no-watch',
      '--var',
      `REDIS_URL:${url}`,
      '--allow',
      `127.0.0.1:${redis.port}`,
    ])
    denied = await startWharf(join(FIXTURES, 'redis'), ['--no-watch', '--var', `REDIS_URL:${url}`])
  })
  after(async () => {
    await Promise.all([wharf.stop(), denied.stop()])
    await redis.stop()
  })

  it('SET and GET through the driver; redis-cli sees the value', async () => {
    const reply = await get(`${wharf.url}/?key=host-test`)
    assert.equal(reply.status, 200, reply.body)
    assert.deepEqual(JSON.parse(reply.body), { key: 'host-test', value: 'value of host-test' })
    assert.equal(redis.cli('GET', 'host-test'), 'value of host-test')
  })

  it('20 concurrent requests, each with its own connection', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => get(`${wharf.url}/?key=k${i}`))
    )
    for (const [i, reply] of replies.entries()) {
      assert.equal((JSON.parse(reply.body) as { value: string }).value, `value of k${i}`)
    }
  })

  it('without an allow rule the driver fails and the server sees nothing', async () => {
    const before = redis.cli('GET', 'blocked')
    const reply = await get(`${denied.url}/?key=blocked`)
    assert.equal(reply.status, 500)
    assert.match(reply.body, /proxy request failed, cannot connect to the specified address/)
    assert.equal(redis.cli('GET', 'blocked'), before)
  })
})
