// The PostgreSQL framing and message decoding, without a server: properties with fast-check.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ProtocolError } from '../src/errors.js'
import { decodeClient } from '../src/pg/frontend.js'
import * as m from '../src/pg/protocol.js'
import { BodyReader, FrameReader, MessageWriter, type Frame } from '../src/pg/wire.js'

const TYPES = [...'QPBDCESHXFdcfpTZ12E']

/** Cuts `data` at the given points (sorted, deduplicated, in range). */
function chunks(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let at = 0
  for (const p of points) {
    out.push(data.subarray(at, p))
    at = p
  }
  out.push(data.subarray(at))
  return out
}

describe('pg/wire.ts', () => {
  it('frames survive any chunking: what MessageWriter builds, FrameReader returns', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.constantFrom(...TYPES),
            body: fc.uint8Array({ maxLength: 300 }),
          }),
          { maxLength: 20 }
        ),
        fc.array(fc.nat(), { maxLength: 30 }),
        (messages, cuts) => {
          const built = messages.map((msg) =>
            new MessageWriter().bytes(Buffer.from(msg.body)).build(msg.type)
          )
          const reader = new FrameReader(1024)
          const got: Frame[] = []
          for (const c of chunks(Buffer.concat(built), cuts)) {
            reader.push(c)
            for (let f = reader.next(); f; f = reader.next()) got.push(f)
          }
          assert.equal(got.length, messages.length)
          got.forEach((f, i) => {
            assert.equal(f.type, messages[i]?.type)
            assert.deepEqual([...f.body], [...(messages[i]?.body ?? [])])
            assert.deepEqual(f.raw, built[i])
          })
          assert.equal(reader.pending, 0)
        }
      )
    )
  })

  it('a declared length out of bounds is a ProtocolError before anything is buffered', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (length) => {
        fc.pre(length < 4 || length > 1024)
        const head = Buffer.alloc(5)
        head[0] = 0x51
        head.writeInt32BE(length, 1)
        const reader = new FrameReader(1024)
        reader.push(head)
        assert.throws(() => reader.next(), ProtocolError)
      })
    )
  })

  it('BodyReader reads back what MessageWriter wrote (uint16 up to 65535)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.string({ unit: 'grapheme', maxLength: 50 }).filter((s) => !s.includes('\0')),
        fc.uint8Array({ maxLength: 50 }),
        (i32, u16, text, rest) => {
          const frame = new MessageWriter()
            .int32(i32)
            .uint16(u16)
            .cstring(text)
            .bytes(Buffer.from(rest))
            .build('x')
          const r = new BodyReader(frame.subarray(5))
          assert.equal(r.int32(), i32)
          assert.equal(r.uint16(), u16)
          assert.equal(r.cstring(), text)
          assert.deepEqual([...r.rest()], [...rest])
          assert.equal(r.remaining, 0)
        }
      )
    )
  })

  it('hostile bodies: decoding a client message either succeeds or throws ProtocolError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.uint8Array({ maxLength: 64 }), (type, body) => {
        const raw = new MessageWriter().bytes(Buffer.from(body)).build(type)
        const frame: Frame = { type, raw, body: raw.subarray(5) }
        try {
          decodeClient(frame)
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error))
        }
      }),
      { numRuns: 2000 }
    )
  })

  it('Parse round trip, including parameter counts above 32767', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0')),
        fc.string({ maxLength: 100 }).filter((s) => !s.includes('\0')),
        fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 32_760, max: 65_535 })),
        (name, text, n) => {
          const types = Array.from({ length: n }, (_, i) => (i * 7919) % 100_000)
          const raw = m.parse(name, text, types)
          const msg = decodeClient({ type: 'P', raw, body: raw.subarray(5) })
          assert.equal(msg.type, 'P')
          if (msg.type !== 'P') return
          assert.equal(msg.name, name)
          assert.equal(msg.text, text)
          assert.deepEqual(msg.types, types)
        }
      ),
      { numRuns: 60 }
    )
    // A count larger than the body holds is refused, not read past the end.
    const lying = new MessageWriter().cstring('').cstring('SELECT 1').uint16(3).int32(23).build('P')
    assert.throws(
      () => decodeClient({ type: 'P', raw: lying, body: lying.subarray(5) }),
      ProtocolError
    )
  })

  it('fixed messages are what the builders make', () => {
    assert.deepEqual(m.SYNC, Buffer.from([0x53, 0, 0, 0, 4]))
    assert.deepEqual(m.PARSE_COMPLETE, Buffer.from([0x31, 0, 0, 0, 4]))
    assert.deepEqual(m.BIND_COMPLETE, Buffer.from([0x32, 0, 0, 0, 4]))
    assert.deepEqual(m.READY.I, m.readyForQuery('I'))
    assert.deepEqual(m.READY.T, Buffer.from([0x5a, 0, 0, 0, 5, 0x54]))
  })
})
