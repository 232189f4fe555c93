// Many sockets at once (workerd enforces no connection limit).
import type { Scenario } from '../src/types.js'

export const manyScenarios: Scenario[] = [
  {
    id: 'many-25-echo',
    title: '25 sockets at once, each echoes its own payload',
    servers: { main: { kind: 'echo' } },
    async run(k) {
      const results = await Promise.all(
        Array.from({ length: 25 }, async (_, i) => {
          const s = k.connect(k.addr())
          const w = s.writable.getWriter()
          const payload = `socket-${i}`
          await w.write(payload)
          const back = await k.readN(s.readable.getReader(), payload.length)
          await s.close()
          return back === payload
        })
      )
      k.trace('all-echoed', results.every(Boolean))
      k.trace('count', results.length)
      k.trace('connections', (await k.server()).connections)
    },
  },
  {
    id: 'many-mixed-refused',
    title: '10 open and 10 refused sockets at once',
    servers: { main: { kind: 'echo' }, dead: { kind: 'refuse' } },
    async run(k) {
      const sockets = Array.from({ length: 20 }, (_, i) =>
        k.connect(k.addr(i % 2 ? 'dead' : 'main'))
      )
      const outcomes = await Promise.all(sockets.map((s) => k.outcome(s.opened, 3000)))
      k.trace('outcomes', outcomes)
      await Promise.all(sockets.map((s) => s.close()))
    },
  },
  {
    id: 'many-sequential',
    title: '15 sockets one after another, each closed before the next',
    servers: { main: { kind: 'echo' } },
    async run(k) {
      let ok = 0
      for (let i = 0; i < 15; i++) {
        const s = k.connect(k.addr())
        await s.opened
        await s.close()
        ok++
      }
      // (No server-side count: a connection is open for the client before this busy process has
      // accepted it, so the count at any moment is timing, not behaviour.)
      k.trace('ok', ok)
    },
  },
]
