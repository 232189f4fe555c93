// `allowHalfOpen` both ways, with the peer's FIN, full close and RST.
import type { Scenario } from '../src/types.js'

/** Reads to EOF (or error), then writes twice and reports the socket's state. */
const afterPeerEnd: Scenario['run'] = async (k, p) => {
  const s = k.connect(k.addr(), { allowHalfOpen: p.allowHalfOpen })
  k.watch('closed', s.closed)
  const reader = s.readable.getReader()
  const w = s.writable.getWriter()
  k.watch('writer.closed', w.closed)
  for (let i = 0; i < 10; i++) {
    // Watched directly (not through k.outcome) so its settle order against closed and
    // writer.closed is observed with the same number of promise hops.
    const read = reader.read()
    k.watch('read', read)
    const r = await Promise.race([read.catch(() => undefined), k.sleep(2000)])
    if (!r || r.done) break
  }
  await k.sleep(50)
  k.trace('write1', await k.outcome(w.write('more'), 1000))
  await k.sleep(50)
  k.trace('write2', await k.outcome(w.write('again'), 1000))
  k.trace('closed-now', await k.outcome(s.closed, 200))
  k.trace('server', (await k.server(undefined, undefined, 100)).events)
  k.trace('close', await k.outcome(s.close(), 1000))
}

const greet = (then: 'end' | 'destroy' | 'rst') => ({
  main: { kind: 'greet' as const, text: 'bye', then },
})

export const halfOpenScenarios: Scenario[] = [
  {
    id: 'half-false-peer-fin',
    title: 'allowHalfOpen false, peer half-closes: write side closed after EOF',
    servers: greet('end'),
    params: { allowHalfOpen: false },
    run: afterPeerEnd,
  },
  {
    id: 'half-true-peer-fin',
    title: 'allowHalfOpen true, peer half-closes: writes still reach the peer',
    servers: greet('end'),
    params: { allowHalfOpen: true },
    run: afterPeerEnd,
  },
  {
    id: 'half-false-peer-destroy',
    title: 'allowHalfOpen false, peer closes fully',
    servers: greet('destroy'),
    params: { allowHalfOpen: false },
    run: afterPeerEnd,
  },
  {
    id: 'half-true-peer-destroy',
    title: 'allowHalfOpen true, peer closes fully: second write loses the connection',
    servers: greet('destroy'),
    params: { allowHalfOpen: true },
    run: afterPeerEnd,
  },
  {
    id: 'half-false-peer-rst',
    title: 'allowHalfOpen false, peer resets after its greeting',
    servers: greet('rst'),
    params: { allowHalfOpen: false },
    run: afterPeerEnd,
  },
  {
    id: 'half-true-peer-rst',
    title: 'allowHalfOpen true, peer resets after its greeting',
    servers: greet('rst'),
    params: { allowHalfOpen: true },
    run: afterPeerEnd,
  },
  {
    id: 'half-true-writer-close-sends-fin',
    title: 'allowHalfOpen true: after EOF, writer.close() sends FIN; closed waits for close()',
    servers: { main: { kind: 'greet', text: 'bye', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const all = await k.readAll(s.readable.getReader())
      k.trace('read', all)
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('tail')))
      k.trace('writer.close', await k.outcome(w.close(), 1000))
      const view = await k.server(undefined, 'close')
      k.trace('server', view.events)
      k.trace('closed', await k.outcome(s.closed, 200))
      k.trace('close', await k.outcome(s.close(), 1000))
      k.trace('closed-after', await k.outcome(s.closed, 200))
    },
  },
  {
    id: 'half-peer-rst-during-read',
    title: 'peer resets while a read is pending',
    servers: { main: { kind: 'cmd' } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      const w = s.writable.getWriter()
      await w.write('SEND abc\n')
      k.trace('read1', await k.outcome(reader.read(), 1000))
      k.watch('closed', s.closed)
      const read2 = reader.read()
      await w.write('RST\n')
      // Awaited, not slept on: under load the reset may take a while to be noticed.
      k.trace('read2', await k.outcome(read2, 2000))
      k.trace('closed-now', await k.outcome(s.closed, 500))
      k.trace('write', await k.outcome(w.write('x'), 500))
      k.trace('close', await k.outcome(s.close(), 1000))
    },
  },
  {
    id: 'half-peer-fin-mid-conversation',
    title: 'peer sends data then FIN on command; default mode closes our side too',
    servers: { main: { kind: 'cmd' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      await w.write('SEND one\nSEND two\nFIN\n')
      k.watch('closed', s.closed)
      k.trace('read', await k.readAll(s.readable.getReader()))
      k.trace('closed', await k.outcome(s.closed, 500))
      k.trace('write', await k.outcome(w.write('x')))
      k.trace('server', (await k.server(undefined, 'close')).events)
    },
  },
  {
    id: 'half-close-after-n-bytes',
    title: 'server ends after receiving 5 bytes',
    servers: { main: { kind: 'close-after', bytes: 5, how: 'end' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('12345')))
      k.trace('read', await k.outcome(s.readable.getReader().read(), 1000))
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'half-rst-after-n-bytes',
    title: 'server resets after receiving 5 bytes: later writes and reads fail',
    servers: { main: { kind: 'close-after', bytes: 5, how: 'rst' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('12345')))
      await k.sleep(100)
      k.trace('read', await k.outcome(s.readable.getReader().read(), 1000))
      k.trace('write2', await k.outcome(w.write('6'), 1000))
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
]
