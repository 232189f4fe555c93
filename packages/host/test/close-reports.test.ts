// `wharf serve`'s socket closes reach the supervisor with the runtime's next dial request, so a
// busy runtime sends no message of their own. The real dial client, its IPC send captured. (That
// the supervisor frees the slots is checked end to end by serve-faults: wharf_sockets_open is 0
// after leaked sockets are closed.)
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { carryClosesWith, dial, onDialReply } from '../src/runtime/dial-client.js'

describe('close reports carried by dial requests', () => {
  it('a dial request carries the closes not reported yet, and none when there are none', async () => {
    const sent: { id: number; closed?: number }[] = []
    const original = Object.getOwnPropertyDescriptor(process, 'send')
    process.send = ((message: { id: number; closed?: number }) =>
      sent.push(message) > 0) as typeof process.send
    let closes = 3
    carryClosesWith(() => {
      const n = closes
      closes = 0
      return n
    })
    try {
      const first = dial({ hostname: '127.0.0.1', port: 5432 })
      const second = dial({ hostname: '127.0.0.1', port: 5432 })
      assert.equal(sent.length, 2)
      assert.equal(sent[0]?.closed, 3)
      assert.equal('closed' in (sent[1] ?? {}), false)
      for (const request of sent) {
        onDialReply({ t: 'dialed', id: request.id, ok: false, reason: 'test' }, undefined)
      }
      await assert.rejects(first, /test/)
      await assert.rejects(second, /test/)
    } finally {
      carryClosesWith(() => 0)
      if (original === undefined) delete process.send
      else Object.defineProperty(process, 'send', original)
    }
  })
})
