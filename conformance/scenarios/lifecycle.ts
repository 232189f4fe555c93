// `opened`/`closed` timing and values, close() with pending reads and queued writes, and
// what reads and writes do after close.
import type { Scenario } from '../src/types.js'

const echo = { main: { kind: 'echo' as const } }
const silent = { main: { kind: 'silent' as const } }

export const lifecycleScenarios: Scenario[] = [
  {
    id: 'life-open-then-close-order',
    title: 'opened resolves, then close() and closed settle',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('opened', s.opened)
      k.watch('closed', s.closed)
      await s.opened
      k.watch('close', s.close())
      await k.outcome(s.closed, 2000)
      await k.sleep(10)
      k.trace('server', (await k.server(undefined, 'close')).events)
    },
  },
  {
    id: 'life-close-before-opened',
    title: 'close() right after connect(): opened still resolves, closed after it',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('close', s.close())
      k.watch('opened', s.opened)
      k.watch('closed', s.closed)
      await k.outcome(s.closed, 3000)
      await k.sleep(10)
    },
  },
  {
    id: 'life-closed-after-eof',
    title: 'allowHalfOpen false: reading EOF closes the write side and resolves closed',
    servers: { main: { kind: 'greet', text: 'hello', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('closed', s.closed)
      const reader = s.readable.getReader()
      for (let i = 0; i < 10; i++) {
        const r = await reader.read()
        k.trace('read', r)
        if (r.done) break
      }
      // Condition waits: both end as soon as closed settles and the server saw the close.
      k.trace('closed', await k.outcome(s.closed, 5000))
      k.trace('server', (await k.server(undefined, 'close')).events)
    },
    mergeReads: true,
  },
  {
    id: 'life-closed-pending-without-read',
    title: 'peer closes but nothing reads: closed stays pending',
    servers: { main: { kind: 'greet', text: 'hello', then: 'destroy' } },
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      k.trace('closed', await k.outcome(s.closed, 300))
      const reader = s.readable.getReader()
      k.trace('read', await k.outcome(reader.read(), 500))
      k.trace('read2', await k.outcome(reader.read(), 500))
      k.trace('closed-after-read', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'life-close-pending-read',
    title: 'close() while a read is pending: settle order and the read error',
    servers: silent,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const reader = s.readable.getReader()
      k.watch('read', reader.read())
      await k.sleep(20)
      k.watch('close', s.close())
      k.watch('closed', s.closed)
      k.watch('reader.closed', reader.closed)
      await k.outcome(s.closed, 2000)
      await k.sleep(30)
    },
  },
  {
    id: 'life-close-queued-writes',
    title: 'close() flushes writes queued before it, then the peer sees FIN',
    servers: { main: { kind: 'sink' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      const writes = [w.write(k.bytes('aaaa')), w.write(k.bytes('bbbb')), w.write('cccc')]
      writes.forEach((p, i) => k.watch(`write${i}`, p))
      k.watch('close', s.close())
      await k.outcome(s.closed, 3000)
      await k.sleep(10)
      const view = await k.server(undefined, 'close')
      k.trace('server', view.events)
      k.trace('head', view.head)
    },
  },
  {
    id: 'life-read-after-close',
    title: 'read() during and after close(): the closing TypeError, even after it completes',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const reader = s.readable.getReader()
      const closing = s.close()
      k.trace('during', await k.outcome(reader.read()))
      await closing
      k.trace('after', await k.outcome(reader.read()))
      reader.releaseLock()
      const again = k.sync('getReader', () => s.readable.getReader())
      if (again) k.trace('new-reader', await k.outcome(again.read()))
    },
  },
  {
    id: 'life-write-after-close',
    title: 'write() during and after close(): closing, then has-been-closed',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const w = s.writable.getWriter()
      const closing = s.close()
      k.trace('during', await k.outcome(w.write('x')))
      await closing
      k.trace('after', await k.outcome(w.write('x')))
      k.trace('desiredSize', w.desiredSize)
      k.trace('writer.closed', await k.outcome(w.closed))
      k.trace('writer.close', await k.outcome(w.close()))
      w.releaseLock()
      k.sync('getWriter', () => s.writable.getWriter())
    },
  },
  {
    id: 'life-held-writer-closed-on-close',
    title: 'a held writer.closed when close() runs',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const w = s.writable.getWriter()
      k.watch('writer.closed', w.closed)
      k.watch('close', s.close())
      await k.outcome(s.closed, 2000)
      await k.sleep(20)
    },
  },
  {
    id: 'life-concurrent-reads',
    title: 'a second concurrent read is refused; close() then settles the first',
    servers: silent,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const reader = s.readable.getReader()
      k.watch('read1', reader.read())
      k.trace('read2', await k.outcome(reader.read()))
      k.watch('close', s.close())
      await k.outcome(s.closed, 2000)
      await k.sleep(30)
    },
  },
  {
    id: 'life-release-lock-pending-read',
    title: 'reader.releaseLock() with a read outstanding',
    servers: silent,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const reader = s.readable.getReader()
      k.watch('read', reader.read())
      k.sync('releaseLock', () => reader.releaseLock())
      await k.sleep(20)
      await s.close()
      await k.sleep(20)
    },
  },
  {
    id: 'life-reader-cancel-keeps-socket',
    title: 'reader.cancel() leaves the socket open and writable',
    servers: { main: { kind: 'sink' } },
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const reader = s.readable.getReader()
      k.trace('cancel', await k.outcome(reader.cancel()))
      k.trace('closed', await k.outcome(s.closed, 200))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('after-cancel')))
      k.trace('close', await k.outcome(s.close(), 2000))
      k.trace('server', (await k.server(undefined, 'close')).head)
    },
  },
  {
    id: 'life-writer-abort',
    title: 'writer.abort() does not resolve closed; reading still works',
    servers: { main: { kind: 'greet', text: 'hi', then: 'open', delayMs: 50 } },
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const w = s.writable.getWriter()
      k.trace('abort', await k.outcome(w.abort(new Error('stop'))))
      k.trace('write', await k.outcome(w.write('x')))
      k.trace('closed', await k.outcome(s.closed, 200))
      k.trace('read', await k.outcome(s.readable.getReader().read(), 1000))
      await s.close()
    },
  },
  {
    id: 'life-writer-close-half-close',
    title: 'writer.close() half-closes; the rest is read; closed then resolves',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      k.watch('write', w.write('ping'))
      k.watch('writer.close', w.close())
      const all = await k.readAll(s.readable.getReader())
      k.trace('read', all)
      k.trace('closed', await k.outcome(s.closed, 500))
      k.trace('server', (await k.server(undefined, 'close')).events)
    },
  },
  {
    id: 'life-writes-before-opened',
    title: 'writes made before opened are queued and delivered',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      const p = w.write('early')
      k.trace(
        'opened-settled-first',
        await Promise.race([s.opened.then(() => 'opened'), p.then(() => 'write')])
      )
      await p
      k.trace('echo', await k.readN(s.readable.getReader(), 5))
      await s.close()
    },
  },
  {
    id: 'life-close-after-close-completed',
    title: 'close() again after it completed resolves; closed stays resolved',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      await s.close()
      k.trace('again', await k.outcome(s.close()))
      k.trace('closed', await k.outcome(s.closed))
      k.trace('opened', await k.outcome(s.opened))
    },
  },
  {
    id: 'life-close-refused-socket',
    title: 'close() on a refused socket resolves; opened/closed keep the connect error',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('close', s.close())
      k.watch('closed', s.closed)
      k.watch('opened', s.opened)
      await k.outcome(s.closed, 2000)
      await k.sleep(20)
    },
  },
  {
    id: 'life-refused-write-pending',
    title: 'refused: a write issued before the failure',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      k.watch('write', w.write('x'))
      k.watch('writer.closed', w.closed)
      await k.outcome(s.closed, 2000)
      await k.sleep(20)
      k.trace('desiredSize', w.desiredSize)
    },
  },
  {
    id: 'life-refused-writer-after',
    title: 'refused: a writer taken after the failure',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      await k.outcome(s.closed, 2000)
      const w = k.sync('getWriter', () => s.writable.getWriter())
      if (!w) return
      k.trace('write', await k.outcome(w.write('x')))
      k.trace('writer.close', await k.outcome(w.close()))
      k.trace('writer.closed', await k.outcome(w.closed))
    },
  },
  {
    id: 'life-refused-read-then-write',
    title: 'refused: write after reading the cancelled readable',
    servers: { main: { kind: 'refuse' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      await k.outcome(s.closed, 2000)
      k.trace('write', await k.outcome(w.write('x')))
      k.trace('read', await k.outcome(s.readable.getReader().read()))
      k.trace('write2', await k.outcome(w.write('x')))
    },
  },
]
