// The WAL lag bound's bookkeeping (pg/wal-lag.ts) and pg_lsn parsing, without a server.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LagBound } from '../src/pg/wal-lag.js'
import { parseLsn } from '../src/pg/wal.js'

describe('WAL lag bound', () => {
  it('vouches up to the moment of the last origin position the stream has applied', () => {
    const lag = new LagBound(100)
    assert.equal(lag.lagMs(0), Infinity)
    lag.reset(1000)
    assert.equal(lag.vouchedUntil, 1100)
    // The origin was at 50 when asked at 1050; the stream has applied 40: not yet.
    lag.polled(50n, 1050, 40n)
    assert.equal(lag.vouchedUntil, 1100)
    lag.polled(70n, 1080, 40n)
    lag.applied(60n)
    assert.equal(lag.vouchedUntil, 1150, 'the poll at 1050 is covered, the one at 1080 not')
    lag.applied(70n)
    assert.equal(lag.vouchedUntil, 1180)
    assert.equal(lag.lagMs(1200), 120)
    // A position already applied when it comes back vouches at once.
    lag.polled(70n, 1300, 70n)
    assert.equal(lag.vouchedUntil, 1400)
    lag.clear()
    assert.equal(lag.lagMs(1300), Infinity)
  })

  it('keeps a bounded number of pending polls, dropping the oldest', () => {
    const lag = new LagBound(100, 3)
    lag.reset(0)
    for (let i = 1; i <= 10; i++) lag.polled(BigInt(i * 10), i, 0n)
    lag.applied(75n) // covers 10..70, of which only 80, 90, 100 were kept
    assert.equal(lag.vouchedUntil, 100, 'dropped polls vouch nothing')
    lag.applied(100n)
    assert.equal(lag.vouchedUntil, 110)
  })

  it('parses pg_lsn text and refuses anything else', () => {
    assert.equal(parseLsn('0/16B3748'), 0x16b3748n)
    assert.equal(parseLsn('1/0'), 1n << 32n)
    assert.equal(parseLsn('FFFFFFFF/FFFFFFFF'), (1n << 64n) - 1n)
    for (const bad of ['', '0', '0/', '/1', '0/123456789', 'x/1', '0/1 ']) {
      assert.equal(parseLsn(bad), undefined, bad)
    }
  })
})
