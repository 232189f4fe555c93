// core/text-memo.ts: both front ends remember statement analyses per text, within bounds.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TextMemo } from '../src/core/text-memo.js'

test('TextMemo computes a text once, reads long texts every time, starts over past its bound', () => {
  let calls = 0
  const memo = new TextMemo<string | null>(3, 10)
  const compute = (t: string): string | null => {
    calls++
    return t === 'none' ? null : t.toUpperCase()
  }
  assert.equal(memo.get('a', compute), 'A')
  assert.equal(memo.get('a', compute), 'A')
  assert.equal(calls, 1)
  // null is an answer too (not cacheable, no refusal): remembered like any other.
  assert.equal(memo.get('none', compute), null)
  assert.equal(memo.get('none', compute), null)
  assert.equal(calls, 2)
  // Longer than 10: never stored.
  memo.get('x'.repeat(11), compute)
  memo.get('x'.repeat(11), compute)
  assert.equal(calls, 4)
  assert.equal(memo.size, 2)
  memo.get('b', compute)
  assert.equal(memo.size, 3)
  memo.get('c', compute) // the bound: starts over with just this one
  assert.equal(memo.size, 1)
  memo.get('a', compute)
  assert.equal(calls, 7)
})
