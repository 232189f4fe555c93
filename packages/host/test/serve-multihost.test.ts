// Several `wharf serve` hosts behind one load balancer behave as one for the query cache: two
// real hosts, one PostgreSQL (wal_level = logical) and one Redis. A result one host cached is
// served by the other, a write through either host drops it in both, and a write behind every
// host (psql) reaches them through the WAL of the host that subscribes to it.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startLogicalPostgres } from '../../../test-support/logical-postgres.js'
import type { PostgresServer } from '../../../test-support/postgres.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { waitFor } from '../../../test-support/servers.js'
import { FIXTURES } from './helpers.js'
import { request, startServed, type Served } from './serve-helpers.js'

const FIXTURE = join(FIXTURES, 'hyperdrive-shared')

describe('wharf serve: two hosts share the query cache through Redis', () => {
  let server: PostgresServer
  let redis: RedisServer
  const hosts: Served[] = []

  /** One host; `wal` false runs the config without wal_invalidation (nowal/). */
  const startHost = async (wal: boolean): Promise<Served> => {
    const env = {
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB: `${server.connectionString}?sslmode=disable`,
      WHARF_HYPERDRIVE_CACHE_REDIS_DB: `redis://:${redis.password}@127.0.0.1:${redis.port}`,
    }
    Object.assign(process.env, env)
    try {
      const host = await startServed(wal ? FIXTURE : join(FIXTURE, 'nowal'), [
        '--processes',
        '1',
        '--admin-port',
        '0',
      ])
      hosts.push(host)
      return host
    } finally {
      for (const key of Object.keys(env)) delete process.env[key]
    }
  }
  /** The binding's cache hits from the host's /metrics (admin listener). */
  const hits = async (host: Served): Promise<number> => {
    const answer = await request(`${host.admin ?? ''}/metrics`)
    const m = /^wharf_hyperdrive_cache_hits_total\{binding="DB"\} (\d+)$/m.exec(answer.body)
    assert.ok(m, answer.body || answer.error)
    return Number(m[1])
  }
  const read = async (host: Served, table: string): Promise<string> => {
    const answer = await request(`${host.url}/?table=${table}`)
    assert.equal(answer.status, 200, answer.body || answer.error)
    return answer.body
  }

  before(async () => {
    ;[server, redis] = await Promise.all([startLogicalPostgres(), startRedis()])
    server.psql(`
      CREATE TABLE items (k int primary key, v text); INSERT INTO items VALUES (1, 'a');
      CREATE TABLE walt (k int primary key, v text); INSERT INTO walt VALUES (1, 'w0');
      CREATE PUBLICATION wharf_walt FOR TABLE walt;
    `)
  })
  after(async () => {
    for (const host of hosts) await host.stop()
    await Promise.all([server.stop(), redis.stop()])
  })

  it('a result cached by one host is served by the other; a write through either drops it in both', async () => {
    const [a, b] = await Promise.all([startHost(true), startHost(false)])
    assert.match(a.output(), /binding DB: .*shared through Redis, invalidated from the WAL/)
    assert.match(b.output(), /binding DB: .*shared through Redis/)
    assert.doesNotMatch(b.output(), /invalidated from the WAL/)

    // `items` is not in the publication: only the poolers' own rules see its writes.
    assert.equal(await read(a, 'items'), 'a')
    await waitFor(() => redis.cli('DBSIZE') !== '0', 5000, 'the result to reach Redis')
    server.psql("UPDATE items SET v = 'behind their backs' WHERE k = 1")
    const before = await hits(b)
    assert.equal(await read(b, 'items'), 'a', 'host B serves what host A cached')
    assert.equal(await hits(b), before + 1)

    const write = await request(`${b.url}/?table=items&v=through-b`, { method: 'POST' })
    assert.equal(write.status, 200, write.body)
    await waitFor(async () => (await read(a, 'items')) === 'through-b', 5000, 'host A to see it')
    assert.equal(await read(b, 'items'), 'through-b')
  })

  it('a write behind every host reaches both through the WAL of one', async () => {
    const [a, b] = hosts
    assert.ok(a && b)
    assert.equal(await read(b, 'walt'), 'w0')
    const before = await hits(b)
    assert.equal(await read(b, 'walt'), 'w0')
    assert.equal(await hits(b), before + 1, 'host B answers from its cache')
    server.psql("UPDATE walt SET v = 'w1' WHERE k = 1")
    // Host B has no stream of its own: only host A's WAL, through Redis, can drop its copy.
    await waitFor(async () => (await read(b, 'walt')) === 'w1', 5000, 'host B to drop its copy')
    assert.equal(await read(a, 'walt'), 'w1')
  })
})
