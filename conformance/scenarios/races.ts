// Issue 14: close(), writer.close(), writer.abort() and readable.cancel() called back to back on
// an open socket, in every order of two (and close() twice), with every settlement traced.
import type { Scenario } from '../src/types.js'

const race: Scenario['run'] = async (k, p) => {
  const order = p.order as string[]
  const s = k.connect(k.addr())
  await s.opened
  const writer = s.writable.getWriter()
  const reader = s.readable.getReader()
  k.watch('closed', s.closed)
  k.watch('writer.closed', writer.closed)
  k.watch('reader.closed', reader.closed)
  order.forEach((op, i) => {
    const name = `${i}:${op}`
    if (op === 'close') k.watch(name, s.close())
    else if (op === 'writer.close') k.watch(name, writer.close())
    else if (op === 'abort') k.watch(name, writer.abort('why'))
    else if (op === 'cancel') k.watch(name, reader.cancel('why'))
    else if (op === 'write') k.watch(name, writer.write('w'))
    else if (op === 'read') k.watch(name, reader.read())
    else if (op === 'cancel-noreason') k.watch(name, reader.cancel())
    else if (op === 'reader.release') k.sync(name, () => reader.releaseLock())
    else if (op === 'writer.release') k.sync(name, () => writer.releaseLock())
  })
  await k.outcome(s.closed, 1500)
  await k.sleep(50)
  k.trace('after.write', await k.outcome(writer.write('late'), 300))
  k.trace('after.read', await k.outcome(reader.read(), 300))
}

const ops = ['close', 'writer.close', 'abort', 'cancel']
const pairs: string[][] = []
for (const a of ops) for (const b of ops) if (a !== b) pairs.push([a, b])

const scenario = (order: string[]): Scenario => ({
  id: `race-${order.join('-').replace(/\./g, '')}`,
  title: `${order.join(', then ')} in the same turn`,
  servers: { main: { kind: 'echo' } },
  params: { order },
  run: race,
})

export const raceScenarios: Scenario[] = [
  ...pairs.map(scenario),
  scenario(['close', 'close']),
  scenario(['write', 'close', 'close']),
  scenario(['read', 'close', 'cancel']),
  scenario(['write', 'abort', 'close']),
  scenario(['close', 'writer.close', 'abort', 'cancel']),
  scenario(['cancel', 'abort', 'writer.close', 'close']),
  // A read in flight, releaseLock() and a second cancel()/abort() against the same races.
  scenario(['read', 'cancel']),
  scenario(['read', 'cancel-noreason']),
  scenario(['read', 'abort', 'cancel']),
  scenario(['abort', 'read']),
  scenario(['cancel', 'write']),
  scenario(['write', 'cancel']),
  scenario(['cancel', 'reader.release']),
  scenario(['abort', 'writer.release']),
  scenario(['close', 'reader.release']),
  scenario(['close', 'writer.release']),
  scenario(['cancel', 'cancel']),
  scenario(['abort', 'abort']),
  scenario(['writer.close', 'cancel', 'close']),
  {
    id: 'race-double-close-settle-order',
    title: 'close() twice: the order in which both calls and closed settle',
    servers: { main: { kind: 'echo' } },
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      k.watch('close1', s.close())
      k.watch('close2', s.close())
      k.watch('closed', s.closed)
      await k.outcome(s.closed, 1500)
      await k.sleep(20)
      k.watch('close3', s.close())
      await k.sleep(20)
    },
  },
  {
    id: 'race-double-close-before-open',
    title: 'close() twice before opened: settle order',
    servers: { main: { kind: 'echo' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('close1', s.close())
      k.watch('opened', s.opened)
      k.watch('close2', s.close())
      k.watch('closed', s.closed)
      await k.outcome(s.closed, 2000)
      await k.sleep(20)
    },
  },
  {
    id: 'race-double-close-before-refused',
    title: 'close() twice while a refused connect is in progress: settle order',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('close1', s.close())
      k.watch('opened', s.opened)
      k.watch('close2', s.close())
      k.watch('closed', s.closed)
      await k.outcome(s.closed, 2000)
      await k.sleep(20)
      k.watch('close3', s.close())
      await k.sleep(20)
    },
  },
]
