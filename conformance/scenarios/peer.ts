// Issue 14: the peer half-closes (FIN) or resets (RST) at every phase: right after accepting,
// in the middle of a stream of writes, in the middle of a download, while close() runs and while
// startTls() takes over, each with allowHalfOpen false and true.
import type { Scenario } from '../src/types.js'

const peer: Scenario['run'] = async (k, p) => {
  const how = p.how as 'FIN' | 'RST'
  const at = p.at as string
  const allowHalfOpen = p.allowHalfOpen as boolean
  const secureTransport = at === 'starttls' ? 'starttls' : 'off'
  const s = k.connect(k.addr(), { allowHalfOpen, secureTransport })
  k.watch('closed', s.closed)
  if (at === 'accept') {
    k.trace('opened', await k.outcome(s.opened, 2000))
    const reader = s.readable.getReader()
    const r = await k.outcome(reader.read(), 2000)
    k.trace('read', r)
    k.trace('read2', await k.outcome(reader.read(), 1000))
    const w = s.writable.getWriter()
    await k.sleep(50)
    k.trace('write', await k.outcome(w.write('x'), 1000))
  } else if (at === 'write') {
    await s.opened
    const w = s.writable.getWriter()
    const chunk = new Uint8Array(16384)
    let failed: unknown
    // Enough writes that a reset peer is noticed however much the kernels buffer (bounded).
    for (let i = 0; i < 400 && failed === undefined; i++) {
      const r = (await k.outcome(w.write(chunk), 2000)) as { err?: unknown }
      if (r.err !== undefined) failed = r.err
      if (i % 50 === 0) await k.sleep(20)
    }
    k.trace('failed', failed ?? 'none')
    if (failed !== undefined) {
      k.trace('next-write', await k.outcome(w.write(chunk), 1000))
      k.trace('third-write', await k.outcome(w.write('x'), 1000))
    }
    k.trace('writer.close', await k.outcome(w.close(), 1000))
  } else if (at === 'read') {
    // A download is read in full, then the peer ends or resets while the next read is pending.
    await s.opened
    const w = s.writable.getWriter()
    await w.write('BULK 20000\n')
    const reader = s.readable.getReader()
    k.trace('got', (await k.readN(reader, 20000)).length)
    const next = reader.read()
    await w.write(`${how}\n`)
    const r = (await k.outcome(next, 2000)) as { ok?: { done?: boolean }; err?: unknown }
    k.trace('end', r.err !== undefined ? r : r.ok?.done === true ? 'done' : r)
    k.trace('write-after', await k.outcome(w.write('x'), 1000))
  } else if (at === 'close') {
    await s.opened
    const w = s.writable.getWriter()
    await w.write(`${how}\n`)
    k.trace('close', await k.outcome(s.close(), 2000))
    k.trace('write', await k.outcome(w.write('x'), 500))
  } else if (at === 'starttls') {
    await s.opened
    const w = s.writable.getWriter()
    await w.write(`${how}\n`)
    w.releaseLock()
    const t = s.startTls()
    k.watch('new.opened', t.opened)
    k.watch('new.closed', t.closed)
    await k.outcome(t.closed, 3000)
    await k.sleep(30)
  }
  await k.outcome(s.closed, 1000)
  await k.sleep(20)
}

const serverFor = (at: string, how: 'FIN' | 'RST') =>
  at === 'accept'
    ? {
        main: {
          kind: 'greet' as const,
          text: '',
          then: how === 'FIN' ? ('end' as const) : ('rst' as const),
        },
      }
    : at === 'write'
      ? {
          main: {
            kind: 'close-after' as const,
            bytes: 1,
            how: how === 'FIN' ? ('end' as const) : ('rst' as const),
          },
        }
      : { main: { kind: 'cmd' as const } }

export const peerScenarios: Scenario[] = ['accept', 'write', 'read', 'close', 'starttls'].flatMap(
  (at) =>
    (['FIN', 'RST'] as const).flatMap((how) =>
      [false, true].map((allowHalfOpen): Scenario => ({
        id: `peer-${how.toLowerCase()}-${at}-half-${allowHalfOpen}`,
        title: `peer ${how} ${at === 'accept' ? 'right after accepting' : `during ${at}`}, allowHalfOpen ${allowHalfOpen}`,
        servers: serverFor(at, how),
        params: { how, at, allowHalfOpen },
        run: peer,
      }))
    )
)
