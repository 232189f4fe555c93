import { test } from 'node:test'
import assert from 'node:assert/strict'
import { check, ratiosOf, updated, type BenchResult } from '../lib/check.js'

function result(wharfRecv: number, poolWharf: number, mode = 'full'): BenchResult {
  return {
    meta: { mode, date: '2026-12-01T00:00:00.000Z', commit: 'abc' },
    sockets: [
      { id: 'recv-64k', peers: { node: { median: 1000 }, wharf: { median: wharfRecv } } },
      {
        id: 'idle-memory-rssPerSocket',
        lowerIsBetter: true,
        peers: { node: { median: 1000 }, wharf: { median: 2000 } },
      },
    ],
    pool: {
      rows: [
        {
          target: 'pgbouncer',
          connectPerTransaction: false,
          tps: { median: 10_000 },
          cpuUsPerTx: { median: 25 },
        },
        {
          target: 'wharf',
          connectPerTransaction: false,
          tps: { median: poolWharf },
          cpuUsPerTx: { median: 50 },
        },
        { target: 'direct', scenario: 'hot', connectPerTransaction: false, tps: { median: 100 } },
        {
          target: 'wharf+cache',
          scenario: 'hot',
          connectPerTransaction: false,
          tps: { median: 250 },
        },
      ],
      far: {
        floorMs: 21,
        loopbackP50: 1,
        rows: [
          { target: 'wharf', p50: { median: 23.1 } },
          { target: 'wharf+cache', p50: { median: 2 } },
        ],
      },
    },
    host: {
      rows: [
        { name: 'plain node:http + node:net', rps: 4000 },
        { name: 'wharf dev Worker', rps: 1000 },
      ],
    },
  }
}

test('ratios are oriented so that higher is better', () => {
  const r = ratiosOf(result(800, 9000))
  assert.equal(r['sockets/recv-64k: wharf / node'], 0.8)
  assert.equal(r['sockets/idle-memory-rssPerSocket: node / wharf'], 0.5)
  assert.equal(r['pool/select: wharf / pgbouncer'], 0.9)
  assert.equal(r['pool/hot: wharf+cache / direct'], 2.5)
  assert.equal(r['pool/select CPU per transaction: pgbouncer / wharf'], 0.5)
  assert.ok(Math.abs((r['far/wharf: floor / p50'] ?? 0) - 21 / 23.1) < 1e-9)
  assert.equal(r['far/wharf+cache: floor / p50'], 0.5)
  assert.equal(r['host/wharf dev Worker / plain'], 0.25)
  assert.equal(r['pool/select-connect: wharf / pgbouncer'], undefined, 'not measured: no key')
})

test('a drop of more than 15% in any ratio fails; smaller changes pass', () => {
  const baseline = updated(undefined, result(800, 9000))
  assert.equal(baseline.tolerance, 0.15)
  assert.equal(check(baseline, result(700, 9000)).ok, true, '-12.5% passes')
  assert.equal(check(baseline, result(900, 12_000)).ok, true, 'gains pass')
  const bad = check(baseline, result(800, 7000))
  assert.equal(bad.ok, false, '-22% fails')
  assert.deepEqual(
    bad.lines.filter((l) => l.status === 'drop').map((l) => l.key),
    ['pool/select: wharf / pgbouncer']
  )
})

test('unmeasured ratios are listed as missing; a run that measured none of them fails', () => {
  const baseline = updated(undefined, result(800, 9000))
  const partial: BenchResult = { ...result(800, 9000), pool: undefined, host: undefined }
  const r = check(baseline, partial)
  assert.equal(r.ok, true)
  assert.ok(r.lines.some((l) => l.status === 'missing' && l.key.startsWith('pool/')))
  const empty = check(baseline, { meta: { mode: 'full' } })
  assert.equal(empty.ok, false)
  assert.match(empty.problem ?? '', /no ratio/)
})

test('each mode has its own baseline entry', () => {
  const full = updated(undefined, result(800, 9000))
  assert.equal(check(full, result(800, 9000, 'quick')).ok, false, 'no quick entry yet')
  const both = updated(full, result(400, 9000, 'quick'))
  assert.equal(check(both, result(400, 9000, 'quick')).ok, true)
  assert.equal(check(both, result(700, 9000, 'full')).ok, true, 'the full entry was kept')
  assert.equal(check(both, result(600, 9000, 'full')).ok, false)
})
