// Drivers built on node:net under nodejs_compat, unmodified: ioredis against a real redis-server
// and pg given a node:net socket against the Hyperdrive pooler. node:net resolves to the
// connect()-based module, so the connections pass the dial broker and the egress policy.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startPostgres, type PostgresServer } from '../../../test-support/postgres.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { FIXTURES, get, startWharf, type Wharf } from './helpers.js'

describe('wharf dev: node:net drivers under nodejs_compat', () => {
  let redis: RedisServer
  let pg: PostgresServer
  let wharf: Wharf
  let denied: Wharf

  before(async () => {
    redis = await startRedis()
    pg = await startPostgres()
    const redisUrl = `redis://:${redis.password}@127.0.0.1:${redis.port}`
    process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB = `${pg.connectionString}?sslmode=disable`
    try {
      wharf = await startWharf(join(FIXTURES, 'node-drivers'), [
        '--no-watch',
        '--var',
        `REDIS_URL:${redisUrl}`,
        '--allow',
        `127.0.0.1:${redis.port}`,
      ])
      denied = await startWharf(join(FIXTURES, 'node-drivers'), [
        '--no-watch',
        '--var',
        `REDIS_URL:${redisUrl}`,
      ])
    } finally {
      delete process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB
    }
  })
  after(async () => {
    await Promise.all([wharf.stop(), denied.stop()])
    await Promise.all([redis.stop(), pg.stop()])
  })

  it('ioredis SET/GET through node:net; redis-cli sees the value', async () => {
    const reply = await get(`${wharf.url}/redis`)
    assert.equal(reply.status, 200, reply.body)
    assert.equal(reply.body, 'via ioredis')
    assert.equal(redis.cli('GET', 'node-net'), 'via ioredis')
  })

  it('node:net is governed by the egress policy: without an allow rule ioredis gets nothing', async () => {
    const reply = await get(`${denied.url}/redis`)
    assert.equal(reply.status, 503, reply.body)
    // The host logs the denial on its own stderr, which may reach us after the response.
    await denied.waitFor(/\[wharf:egress\] denied 127\.0\.0\.1:\d+/, 5_000)
  })

  it('pg over a node:net socket through env.DB', async () => {
    const reply = await get(`${wharf.url}/pg`)
    assert.equal(reply.status, 200, reply.body)
    assert.equal(reply.body, '42')
  })
})
