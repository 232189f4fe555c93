// MySQL packet framing: one buffer per command (header and payload in one write), and the wire
// bytes of an unsplit packet kept so a response can be forwarded without framing it again.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_PACKET, PacketReader, frame, framed } from '../../src/mysql/packets.js'
import { commandPacket } from '../../src/mysql/origin.js'

describe('MySQL packets', () => {
  it('framed() is frame() in one buffer, split payloads included', () => {
    for (const size of [0, 1, 300, MAX_PACKET - 1, MAX_PACKET, MAX_PACKET + 5]) {
      const payload = Buffer.alloc(size, 0x61)
      const one = framed(payload, 7)
      assert.ok(Buffer.isBuffer(one))
      assert.deepEqual(one, Buffer.concat(frame(payload, 7).bytes), `size ${size}`)
      assert.equal(one.readUIntLE(0, 3), Math.min(size, MAX_PACKET))
      assert.equal(one[3], 7)
    }
  })

  it('commandPacket() frames with sequence id 0 and room for the payload', () => {
    const p = commandPacket(5)
    p[4] = 0x17
    p.writeUInt32LE(42, 5)
    assert.equal(p.length, 9)
    assert.deepEqual(p.subarray(0, 4), Buffer.from([5, 0, 0, 0]))
    const r = new PacketReader(1024)
    r.push(p)
    assert.deepEqual(r.next()?.payload, Buffer.from([0x17, 42, 0, 0, 0]))
    assert.throws(() => commandPacket(MAX_PACKET), RangeError)
  })

  it('a whole packet carries its wire bytes; a split one does not', () => {
    const r = new PacketReader(64 * 1024 * 1024)
    const small = framed(Buffer.from('hello'), 3)
    const big = framed(Buffer.alloc(MAX_PACKET + 10, 0x62), 4)
    // Arrives in odd pieces: the reader joins them.
    const all = Buffer.concat([small, big, small])
    for (let at = 0; at < all.length; at += 1_000_003) r.push(all.subarray(at, at + 1_000_003))
    const a = r.next()
    assert.deepEqual(a?.raw, small)
    assert.equal(a?.payload.toString(), 'hello')
    const b = r.next()
    assert.equal(b?.raw, undefined)
    assert.equal(b?.payload.length, MAX_PACKET + 10)
    assert.equal(b?.seq, 4)
    assert.equal(b?.lastSeq, 5)
    const c = r.next()
    assert.deepEqual(c?.raw, small)
    assert.equal(r.next(), undefined)
  })
})
