// A Worker's socket limit across hosts (`wharf.serve.shared_sockets`): two real `wharf serve`
// hosts and one Redis. With `max_open: 2`, two sockets held on either host leave none for the
// other; a slot freed on one host serves the other's waiting dial; a host killed without a word
// stops counting once its heartbeat lapses; and a host that cannot reach Redis at start exits 1.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { waitFor } from '../../../test-support/servers.js'
import { ALLOW_TEST_SERVERS, FIXTURES, echoServer, type TestServer } from './helpers.js'
import { request, startServed, type Served } from './serve-helpers.js'

const FIXTURE = join(FIXTURES, 'shared-sockets')
const COUNTS = 'wharf:sockets:shared-sockets:counts'

describe('wharf serve: a socket limit shared by the hosts of one Redis', () => {
  let redis: RedisServer
  let echo: TestServer
  const hosts: Served[] = []

  const startHost = async (): Promise<Served> => {
    process.env.WHARF_SERVE_SHARED_SOCKETS_REDIS = `redis://:${redis.password}@127.0.0.1:${redis.port}`
    try {
      const host = await startServed(FIXTURE, [
        '--processes',
        '1',
        '--admin-port',
        '0',
        '--allow',
        ALLOW_TEST_SERVERS,
      ])
      hosts.push(host)
      return host
    } finally {
      delete process.env.WHARF_SERVE_SHARED_SOCKETS_REDIS
    }
  }
  const hold = (host: Served, ms: number): ReturnType<typeof request> =>
    request(`${host.url}/?port=${echo.port}&ms=${ms}`)
  /** Sockets each host holds, as Redis counts them. */
  const counted = (): number =>
    redis
      .cli('HVALS', COUNTS)
      .split('\n')
      .filter((v) => v !== '')
      .reduce((sum, v) => sum + Number(v), 0)

  before(async () => {
    ;[redis, echo] = await Promise.all([startRedis(), echoServer()])
  })
  after(async () => {
    for (const host of hosts) await host.stop()
    await Promise.all([redis.stop(), echo.close()])
  })

  it('two sockets held across both hosts leave none for either; a freed one serves the other', async () => {
    const [a, b] = await Promise.all([startHost(), startHost()])
    assert.match(a.output(), /at most 2 open sockets across the hosts sharing redis:\/\/:\*\*\*@/)
    assert.doesNotMatch(a.output(), new RegExp(redis.password))

    // One long hold on each host: the limit is reached with one socket per host.
    const longA = hold(a, 2500)
    const longB = hold(b, 2500)
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(counted(), 2, 'Redis counts both hosts’ sockets')
    // A third on either host waits (queueTimeoutMs 1000) and is refused.
    const third = await hold(b, 0)
    assert.equal(third.status, 503, third.body || third.error)
    assert.ok(third.ms >= 800, `refused after ${third.ms} ms, not after waiting`)
    const [doneA, doneB] = await Promise.all([longA, longB])
    assert.equal(doneA.body, 'held')
    assert.equal(doneB.body, 'held')
    assert.ok(echo.maxConcurrent() <= 2, `${echo.maxConcurrent()} sockets were open at once`)

    // A waiting dial on B gets the slot A frees (before its wait runs out).
    const holdA = hold(a, 700)
    const holdA2 = hold(a, 700)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const waited = await hold(b, 0)
    assert.equal(waited.status, 200, waited.body || waited.error)
    assert.ok(waited.ms >= 200, `served after ${waited.ms} ms: it should have waited for A`)
    assert.deepEqual(
      (await Promise.all([holdA, holdA2])).map((r) => r.body),
      ['held', 'held']
    )
    assert.ok(echo.maxConcurrent() <= 2, `${echo.maxConcurrent()} sockets were open at once`)
    const metrics = await request(`${b.admin ?? ''}/metrics`)
    assert.match(metrics.body, /^wharf_broker_dials_total\{outcome="limited"\} [1-9]/m)
  })

  it('a host killed while holding sockets stops counting when its heartbeat lapses', async () => {
    const [a, b] = hosts
    assert.ok(a && b)
    const holds = [hold(a, 30_000), hold(a, 30_000)]
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(counted(), 2)
    a.child.kill('SIGKILL')
    await a.exited
    await Promise.all(holds)
    // Its two slots are still counted until its heartbeat (5 s) lapses, then B may dial.
    const started = Date.now()
    let answer = await hold(b, 0)
    while (answer.status !== 200 && Date.now() - started < 15_000) answer = await hold(b, 0)
    assert.equal(answer.status, 200, answer.body || answer.error)
    assert.ok(Date.now() - started < 12_000, 'the dead host stopped counting within its TTL')
    await waitFor(() => counted() === 0, 3000, 'the count back to 0')
  })

  it('after a Redis restart the hosts write their counts back; dials go on meanwhile', async () => {
    const b = hosts[1]
    assert.ok(b)
    const holding = hold(b, 3000)
    await waitFor(() => counted() === 1, 2000, 'the hold counted')
    await redis.restart()
    assert.equal(counted(), 0, 'the restarted Redis is empty')
    // Redis back: the heartbeat restores B's one socket, so one slot is left.
    await waitFor(() => counted() === 1, 3000, "B's count written back")
    const another = await hold(b, 0)
    assert.equal(another.status, 200, another.body || another.error)
    assert.equal((await holding).body, 'held')
  })

  it('a host that cannot reach Redis at start exits 1 with ERR_WHARF_SHARED_STATE', async () => {
    await assert.rejects(startServed(FIXTURE, ['--processes', '1']), (error: Error) => {
      assert.match(error.message, /ERR_WHARF_SHARED_STATE/)
      assert.match(error.message, /Redis at redis:\/\/127\.0\.0\.1:1 cannot be reached/)
      return true
    })
  })
})
