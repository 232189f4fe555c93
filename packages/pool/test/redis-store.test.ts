// The shared store's generations, against a real redis-server: a result read from the origin is
// stored only when no write to its tables reached Redis between its lookup and its store, from
// any pooler. Two RedisStore instances play two poolers.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { CachedResult } from '../src/core/cache.js'
import { RedisStore } from '../src/core/redis-store.js'
import { startRedis, type RedisServer } from '../../../test-support/redis.js'
import { sleep } from './helpers.js'

const TTL = 60_000

function result(text: string, relations: readonly string[] | null): CachedResult {
  return { description: undefined, rows: Buffer.from(text), relations }
}

describe('wharf pool: the shared store refuses results a write overtook', () => {
  let redis: RedisServer
  const stores: RedisStore[] = []
  let prefixes = 0
  /** Two poolers sharing one fresh prefix. */
  async function pair(): Promise<[RedisStore, RedisStore]> {
    const prefix = `gen${++prefixes}:`
    const make = (): RedisStore =>
      new RedisStore({
        url: `redis://:${redis.password}@127.0.0.1:${redis.port}`,
        prefix,
        timeoutMs: 2000,
      })
    const made: [RedisStore, RedisStore] = [make(), make()]
    for (const s of made) await s.start()
    stores.push(...made)
    return made
  }
  /** Stores and waits until Redis answered (stored or refused). */
  async function settleSet(
    store: RedisStore,
    key: string,
    value: CachedResult,
    token: string | undefined
  ): Promise<void> {
    const before = store.stats.refused + store.stats.errors
    store.set(key, value, Date.now(), TTL, token)
    // A refusal bumps a counter; a store is seen by a lookup.
    const deadline = Date.now() + 3000
    for (;;) {
      if (store.stats.refused + store.stats.errors > before) return
      const probe = await store.get(key, value.relations)
      if (probe.found) return
      if (Date.now() > deadline) return
      await sleep(10)
    }
  }

  before(async () => {
    redis = await startRedis()
  })
  after(async () => {
    for (const s of stores) await s.close()
    await redis.stop()
  })

  it('stores a result when nothing was written since its lookup', async () => {
    const [a, b] = await pair()
    const miss = await a.get('k', ['items'])
    assert.equal(miss.found, undefined)
    assert.equal(typeof miss.token, 'string')
    await settleSet(a, 'k', result('fresh', ['items']), miss.token)
    const seen = await b.get('k', ['items'])
    assert.equal(seen.found?.result.rows.toString(), 'fresh', 'the other pooler is served it')
    assert.equal(a.stats.refused, 0)
  })

  it("refuses a result when another pooler's write reached Redis after the lookup", async () => {
    const [a, b] = await pair()
    const miss = await a.get('k', ['items'])
    b.invalidate(['items'])
    // The invalidation is fire-and-forget: wait until it moved the generation in Redis.
    const deadline = Date.now() + 3000
    while (redis.cli('GET', `gen${prefixes}:g:items`) === '' && Date.now() < deadline)
      await sleep(10)
    await settleSet(a, 'k', result('read before the write', ['items']), miss.token)
    assert.equal(a.stats.refused, 1, 'the store was refused')
    assert.equal((await b.get('k', ['items'])).found, undefined, 'nothing stale in Redis')
    assert.equal((await a.get('k', ['items'])).found, undefined)
  })

  it('a write to another table does not refuse it; a flush of everything does', async () => {
    const [a, b] = await pair()
    const first = await a.get('k1', ['items'])
    b.invalidate(['other'])
    await sleep(50)
    await settleSet(a, 'k1', result('one', ['items']), first.token)
    assert.equal((await b.get('k1', ['items'])).found?.result.rows.toString(), 'one')

    const second = await a.get('k2', ['items', 'more'])
    b.invalidate('all')
    await sleep(50)
    await settleSet(a, 'k2', result('two', ['items', 'more']), second.token)
    assert.equal(a.stats.refused, 1)
    assert.equal((await b.get('k2', ['items', 'more'])).found, undefined)
    assert.equal((await b.get('k1', ['items'])).found, undefined, '"all" dropped k1 as well')
  })

  it('a stored result is listed with its tables at once: the next write drops it', async () => {
    const [a, b] = await pair()
    const miss = await a.get('k', ['items'])
    await settleSet(a, 'k', result('x', ['items']), miss.token)
    assert.ok((await b.get('k', ['items'])).found)
    b.invalidate(['items'])
    const deadline = Date.now() + 3000
    while ((await a.get('k', ['items'])).found && Date.now() < deadline) await sleep(10)
    assert.equal((await a.get('k', ['items'])).found, undefined)
  })

  it('an expired generation never matches an old token again', async () => {
    const [a, b] = await pair()
    b.invalidate(['items'])
    await sleep(50)
    const miss = await a.get('k', ['items'])
    // Expiry of the generation key, then a new write: its generation must differ from the token.
    redis.cli('DEL', `gen${prefixes}:g:items`)
    b.invalidate(['items'])
    await sleep(50)
    await settleSet(a, 'k', result('stale', ['items']), miss.token)
    assert.equal(a.stats.refused, 1)
    assert.equal((await b.get('k', ['items'])).found, undefined)
  })

  it('never stores without a token, nor a result whose tables are unknown', async () => {
    const [a, b] = await pair()
    a.set('k', result('no lookup', ['items']), Date.now(), TTL, undefined)
    const unknown = await a.get('u', null)
    assert.equal(unknown.token, undefined)
    a.set('u', result('unknown tables', null), Date.now(), TTL, 'whatever')
    await sleep(100)
    assert.equal((await b.get('k', ['items'])).found, undefined)
    assert.equal((await b.get('u', null)).found, undefined)
    assert.equal(redis.cli('EXISTS', `gen${prefixes}:k`), '0')
  })

  it('hostile table names are only key text: a table called "*" flushes, nothing breaks', async () => {
    const [a, b] = await pair()
    const names = ['*', '#', 'a b', 'x\r\n*1\r\n$4\r\nPING', "'; redis.call('FLUSHALL') --", '']
    const miss = await a.get('k', ['items'])
    await settleSet(a, 'k', result('kept', ['items']), miss.token)
    for (const n of names.slice(1)) b.invalidate([n])
    await sleep(100)
    assert.equal((await a.get('k', ['items'])).found?.result.rows.toString(), 'kept')
    b.invalidate(['*'])
    await sleep(100)
    assert.equal((await a.get('k', ['items'])).found, undefined, 'the table "*" is "all"')
    assert.equal(a.stats.errors + b.stats.errors, 0)
  })
})
