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

// The peer hangs up in the middle of the StartTLS handshake: it answers STARTTLS, then ends or
// resets the connection as the ClientHello arrives (or, `immediate`, on the first bytes of a
// startTls() made right after connect()). Traced: both sockets' promises and I/O on the new one.
const handshake: Scenario['run'] = async (k, p) => {
  const allowHalfOpen = p.allowHalfOpen as boolean
  const s = k.connect(k.addr(), { allowHalfOpen, secureTransport: 'starttls' })
  k.watch('old.closed', s.closed)
  if (p.immediate !== true) {
    await s.opened
    const r = s.readable.getReader()
    const w = s.writable.getWriter()
    k.trace('greeting', k.text((await r.read()).value ?? new Uint8Array()))
    await w.write('STARTTLS\r\n')
    k.trace('go', k.text((await r.read()).value ?? new Uint8Array()))
    r.releaseLock()
    w.releaseLock()
  }
  const t = s.startTls()
  k.watch('new.opened', t.opened)
  k.watch('new.closed', t.closed)
  const w = t.writable.getWriter()
  k.watch('new.write', w.write('early'))
  k.trace('new.read', await k.outcome(t.readable.getReader().read(), 3000))
  await k.outcome(t.closed, 3000)
  k.trace('server', (await k.server(undefined, 'hello', 3000)).events.includes('hello'))
  k.trace('write-after', await k.outcome(w.write('late'), 500))
  k.trace('close', await k.outcome(t.close(), 1000))
  await k.outcome(s.closed, 1000)
  await k.sleep(20)
}

peerScenarios.push(
  ...(['FIN', 'RST'] as const).flatMap((how) =>
    [
      { immediate: false, allowHalfOpen: false },
      { immediate: false, allowHalfOpen: true },
      { immediate: true, allowHalfOpen: false },
      { immediate: true, allowHalfOpen: true },
    ].map(({ immediate, allowHalfOpen }): Scenario => ({
      id: `peer-${how.toLowerCase()}-handshake${immediate ? '-immediate' : ''}-half-${allowHalfOpen}`,
      title: `peer ${how} as the ClientHello arrives, ${immediate ? 'startTls() at once' : 'after STARTTLS'}, allowHalfOpen ${allowHalfOpen}`,
      servers: {
        main: {
          kind: 'starttls',
          cert: 'localhost',
          immediate,
          hangUpOnHello: how === 'FIN' ? 'end' : 'rst',
        },
      },
      tls: true,
      params: { immediate, allowHalfOpen },
      run: handshake,
    }))
  )
)
