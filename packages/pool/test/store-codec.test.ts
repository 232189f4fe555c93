// The shared store's byte format: round trips, and hostile bytes never throw.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decode, encode } from '../src/core/store-codec.js'

const result = fc.record({
  description: fc.option(
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    {
      nil: undefined,
    }
  ),
  rows: fc.uint8Array({ minLength: 1, maxLength: 500 }).map((b) => Buffer.from(b)),
  relations: fc.option(
    fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }), { maxLength: 10 }),
    {
      nil: null,
    }
  ),
})

describe('core/store-codec.ts', () => {
  it('decode(encode(x)) is x', () => {
    fc.assert(
      fc.property(result, fc.double({ noNaN: true, noDefaultInfinity: true }), (r, storedAt) => {
        const back = decode(encode(r, storedAt))
        assert.ok(back)
        assert.equal(back.storedAt, storedAt)
        assert.deepEqual(back.result.description, r.description)
        assert.deepEqual(back.result.rows, r.rows)
        assert.deepEqual(back.result.relations, r.relations)
      })
    )
  })

  it('hostile or truncated bytes decode to undefined or a bounded result, never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const out = decode(Buffer.from(bytes))
        if (out) assert.ok(out.result.rows.length <= bytes.length)
      }),
      { numRuns: 3000 }
    )
    fc.assert(
      fc.property(result, fc.nat(), (r, cut) => {
        const full = encode(r, 1)
        const out = decode(full.subarray(0, cut % full.length))
        if (out) assert.ok(out.result.rows.length < r.rows.length)
      })
    )
  })

  it('an empty result (no rows) is refused: a store entry must carry a CommandComplete', () => {
    assert.equal(
      decode(encode({ description: undefined, rows: Buffer.alloc(0), relations: [] }, 1)),
      undefined
    )
  })
})
