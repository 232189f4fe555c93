// QueryCache eviction on its own: oldest first, and an entry that keeps being hit stays, although
// a hit moves it to the young end only once it is in the older half (core/cache.ts).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_CACHE, QueryCache } from '../src/core/cache.js'

const result = (n: number): { description: undefined; rows: Buffer; relations: string[] } => ({
  description: undefined,
  rows: Buffer.alloc(100, n),
  relations: ['t'],
})

// Room for about ten entries (each counts its 100 bytes, its key and 512 bytes of overhead).
const small = (): QueryCache => new QueryCache({ ...DEFAULT_CACHE, maxBytes: 10 * 620 })

test('evicts the oldest entry first', () => {
  const cache = small()
  for (let i = 0; i < 20; i++) cache.set(`k${i}`, result(i))
  assert.ok(cache.stats.evictions >= 10)
  assert.equal(cache.get('k0'), undefined)
  assert.ok(cache.get('k19'))
})

test('an entry hit while new ones keep arriving is never evicted', () => {
  const cache = small()
  cache.set('hot', result(0))
  for (let i = 0; i < 1000; i++) {
    cache.set(`cold${i}`, result(i % 250))
    // One hit per three insertions: well within half a cache's worth (about five).
    if (i % 3 === 0) assert.ok(cache.get('hot'), `hot evicted after ${i} insertions`)
  }
  assert.ok(cache.stats.evictions > 900)
  assert.equal(cache.get('cold0'), undefined)
})

test('an entry not hit is evicted in its turn', () => {
  const cache = small()
  cache.set('once', result(0))
  assert.ok(cache.get('once'))
  for (let i = 0; i < 30; i++) cache.set(`cold${i}`, result(i))
  assert.equal(cache.get('once'), undefined)
})
