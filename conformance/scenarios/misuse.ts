// Issue 14: stream API misuse in every lifecycle phase. One `run` serves the table: it brings a
// socket to `phase` (connecting, open, closing, closed, refused, peer EOF read, peer reset seen),
// then does `op` on its streams and traces what every call and promise gives.
import type { Scenario } from '../src/types.js'

const servers = {
  main: { kind: 'echo' as const },
  refuse: { kind: 'refuse' as const },
  cmd: { kind: 'cmd' as const },
}

const inPhase: Scenario['run'] = async (k, p) => {
  const phase = p.phase as string
  const op = p.op as string
  // The peer's FIN or RST comes on command, after the client asked for it.
  const server =
    phase === 'refused' ? 'refuse' : phase === 'eof' || phase === 'rst' ? 'cmd' : 'main'
  const s = k.connect(k.addr(server))
  s.opened.catch(() => undefined)
  s.closed.catch(() => undefined)
  let closing: Promise<void> | undefined
  if (phase === 'open') await s.opened
  else if (phase === 'closing') {
    await s.opened
    closing = s.close()
  } else if (phase === 'closed') {
    await s.opened
    await s.close()
  } else if (phase === 'refused') {
    await k.outcome(s.closed, 3000)
  } else if (phase === 'eof' || phase === 'rst') {
    const w = s.writable.getWriter()
    await w.write(phase === 'eof' ? 'SEND hi\nFIN\n' : 'RST\n')
    w.releaseLock()
    const r = s.readable.getReader()
    for (let i = 0; i < 10; i++) {
      const res = await k.outcome(r.read(), 2000)
      k.trace('setup.read', res)
      const done = (res as { ok?: { done?: boolean } }).ok?.done
      if (done !== false) break
    }
    r.releaseLock()
    await k.outcome(s.closed, 1000)
  }
  if (op === 'read') {
    const reader = k.sync('getReader', () => s.readable.getReader())
    if (reader) k.trace('read', await k.outcome(reader.read(), 500))
  } else if (op === 'write') {
    const writer = k.sync('getWriter', () => s.writable.getWriter())
    if (writer) {
      k.trace('desiredSize', writer.desiredSize)
      k.trace('write', await k.outcome(writer.write('x'), 500))
      k.trace('write2', await k.outcome(writer.write('y'), 500))
      k.trace('writer.closed', await k.outcome(writer.closed, 200))
    }
  } else if (op === 'cancel') {
    k.trace('cancel', await k.outcome(s.readable.cancel('why'), 500))
    k.trace('locked', s.readable.locked)
    const reader = k.sync('getReader', () => s.readable.getReader())
    if (reader) k.trace('read', await k.outcome(reader.read(), 500))
  } else if (op === 'abort') {
    k.trace('abort', await k.outcome(s.writable.abort('why'), 500))
    const writer = k.sync('getWriter', () => s.writable.getWriter())
    if (writer) k.trace('write', await k.outcome(writer.write('x'), 500))
  } else if (op === 'writable-close') {
    k.trace('close', await k.outcome(s.writable.close(), 500))
    const writer = k.sync('getWriter', () => s.writable.getWriter())
    if (writer) k.trace('write', await k.outcome(writer.write('x'), 500))
  } else if (op === 'relock') {
    const r1 = k.sync('getReader1', () => s.readable.getReader())
    k.sync('getReader-locked', () => s.readable.getReader())
    k.sync('release', () => r1?.releaseLock())
    k.trace('released.closed', await k.outcome(r1 ? r1.closed : Promise.resolve(), 200))
    const w1 = k.sync('getWriter1', () => s.writable.getWriter())
    k.sync('getWriter-locked', () => s.writable.getWriter())
    k.sync('wrelease', () => w1?.releaseLock())
    k.trace('wreleased.closed', await k.outcome(w1 ? w1.closed : Promise.resolve(), 200))
    k.sync('getWriter2', () => s.writable.getWriter())
  }
  if (closing) k.trace('close()', await k.outcome(closing, 2000))
  k.trace('closed', await k.outcome(s.closed, 300))
}

const phases = ['connecting', 'open', 'closing', 'closed', 'refused', 'eof', 'rst']
const ops = ['read', 'write', 'cancel', 'abort', 'writable-close', 'relock']

export const misuseScenarios: Scenario[] = phases.flatMap((phase) =>
  ops.map((op): Scenario => ({
    id: `misuse-${phase}-${op}`,
    title: `${op} on the streams of a socket that is ${phase}`,
    servers,
    params: { phase, op },
    run: inPhase,
  }))
)
