// The readable and writable: BYOB, chunking, single pending read, string and typed writes,
// large transfers with backpressure, and Web Streams interop.
import type { Scenario } from '../src/types.js'

const echo = { main: { kind: 'echo' as const } }

export const streamScenarios: Scenario[] = [
  {
    id: 'stream-byob-read',
    title: 'BYOB read fills the caller buffer and detaches the original view',
    servers: { main: { kind: 'greet', text: 'hello', then: 'open' } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader({ mode: 'byob' })
      k.trace('reader', reader.constructor.name)
      const view = new Uint8Array(16)
      const r = await reader.read(view)
      k.trace('read', r)
      k.trace('buffer', r.value?.buffer.byteLength)
      k.trace('original-detached', view.byteLength)
      await s.close()
    },
  },
  {
    id: 'stream-byob-read-at-least',
    title: 'readAtLeast(6, view) waits for 6 bytes over two chunks',
    // Two chunks only: under load they may arrive together, and 6 bytes is then all there is.
    servers: { main: { kind: 'slow', chunks: ['abc', 'def'], intervalMs: 40 } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader({ mode: 'byob' })
      const r = await reader.readAtLeast(6, new Uint8Array(16))
      k.trace('read', r)
      await s.close()
    },
  },
  {
    id: 'stream-byob-empty-view',
    title: 'BYOB read into a zero-length view is a TypeError',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader({ mode: 'byob' })
      k.trace('read', await k.outcome(reader.read(new Uint8Array(0))))
      await s.close()
    },
  },
  {
    id: 'stream-byob-eof',
    title: 'BYOB read at EOF',
    servers: { main: { kind: 'greet', text: '', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader({ mode: 'byob' })
      k.trace('read', await k.outcome(reader.read(new Uint8Array(8)), 1000))
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'stream-default-chunk',
    title: 'default reader chunks are Uint8Array over a 4096-byte buffer',
    servers: { main: { kind: 'greet', text: 'hello', then: 'open' } },
    async run(k) {
      const s = k.connect(k.addr())
      const r = await s.readable.getReader().read()
      k.trace('ctor', r.value?.constructor.name)
      k.trace('length', r.value?.length)
      k.trace('buffer', r.value?.buffer.byteLength)
      await s.close()
    },
  },
  {
    id: 'stream-eof-repeats',
    title: 'EOF is done: true with undefined value, and repeats',
    servers: { main: { kind: 'greet', text: 'x', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const reader = s.readable.getReader()
      for (let i = 0; i < 4; i++) k.trace('read', await k.outcome(reader.read(), 1000))
      await s.close()
    },
  },
  {
    id: 'stream-string-writes',
    title: 'strings are written as UTF-8',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      const text = 'h\u00e9llo \u2603 \u{1F600}'
      k.trace('write', await k.outcome(w.write(text)))
      k.trace('echo', await k.readN(s.readable.getReader(), k.bytes(text).length))
      await s.close()
    },
  },
  {
    id: 'stream-write-types',
    title: 'ArrayBuffer, DataView, Int16Array, SharedArrayBuffer, empty, undefined',
    servers: { main: { kind: 'sink' } },
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      const ab = k.bytes('ab').buffer
      const dv = new DataView(k.bytes('xcdx').buffer, 1, 2)
      const i16 = new Int16Array([0x6665])
      const sab = new SharedArrayBuffer(2)
      new Uint8Array(sab).set([0x67, 0x68])
      k.trace('arraybuffer', await k.outcome(w.write(ab)))
      k.trace('dataview', await k.outcome(w.write(dv)))
      k.trace('int16', await k.outcome(w.write(i16)))
      k.trace('sab', await k.outcome(w.write(sab)))
      k.trace('empty', await k.outcome(w.write(new Uint8Array(0))))
      k.trace('undefined', await k.outcome(w.write(undefined)))
      k.trace('writer.close', await k.outcome(w.close(), 1000))
      k.trace('reply', await k.readAll(s.readable.getReader()))
      k.trace('head', (await k.server(undefined, 'sink')).head)
    },
  },
  {
    id: 'stream-write-bad-types',
    title: 'a number, object or null chunk is rejected; the writer stays usable',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      k.trace('number', await k.outcome(w.write(42)))
      k.trace('object', await k.outcome(w.write({ a: 1 })))
      k.trace('null', await k.outcome(w.write(null)))
      k.trace('ok', await k.outcome(w.write('ok')))
      k.trace('echo', await k.readN(s.readable.getReader(), 2))
      await s.close()
    },
  },
  {
    id: 'stream-for-await',
    title: 'for await over socket.readable',
    servers: { main: { kind: 'greet', text: 'line1\nline2\n', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr())
      let text = ''
      for await (const chunk of s.readable) text += k.text(chunk)
      k.trace('text', text)
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'stream-pipe-to',
    title: 'readable.pipeTo() a WritableStream',
    servers: { main: { kind: 'greet', text: 'piped data', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr())
      let text = ''
      const sink = new WritableStream<Uint8Array>({
        write(chunk) {
          text += k.text(chunk)
        },
      })
      k.trace('pipe', await k.outcome(s.readable.pipeTo(sink), 2000))
      k.trace('text', text)
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'stream-response-body',
    title: 'new Response(socket.readable).text()',
    servers: { main: { kind: 'greet', text: 'as a body', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.trace('text', await k.outcome(new Response(s.readable).text(), 2000))
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'stream-large-echo',
    title: '1 MiB echoed with writer.ready backpressure, read concurrently',
    servers: echo,
    timeoutMs: 20_000,
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      const total = 1024 * 1024
      const chunk = new Uint8Array(64 * 1024).fill(120)
      const reading = k.readAll(s.readable.getReader(), total)
      for (let sent = 0; sent < total; sent += chunk.length) {
        await w.ready
        await w.write(chunk)
      }
      const got = await reading
      k.trace('received', got.bytes)
      k.trace('close', await k.outcome(s.close(), 2000))
    },
  },
  {
    id: 'stream-large-download',
    title: '4 MiB from the server, read to EOF',
    servers: { main: { kind: 'bulk', bytes: 4 * 1024 * 1024, then: 'end' } },
    timeoutMs: 20_000,
    async run(k) {
      const s = k.connect(k.addr())
      const got = await k.readAll(s.readable.getReader())
      k.trace('bytes', got.bytes)
      k.trace('head', got.text.slice(0, 30))
      k.trace('closed', await k.outcome(s.closed, 1000))
    },
  },
  {
    id: 'stream-large-upload-slow-reader',
    title: '2 MiB to a server that stops reading for 200 ms; writes wait, all bytes arrive',
    servers: { main: { kind: 'sink', pauseMs: 200 } },
    timeoutMs: 20_000,
    async run(k) {
      const s = k.connect(k.addr())
      const w = s.writable.getWriter()
      const chunk = new Uint8Array(256 * 1024).fill(97)
      for (let i = 0; i < 8; i++) await w.write(chunk)
      k.trace('writer.close', await k.outcome(w.close(), 5000))
      k.trace('reply', await k.readAll(s.readable.getReader()))
      k.trace('closed', await k.outcome(s.closed, 1000))
    },
  },
  {
    id: 'stream-slow-writer-server',
    title: 'a server writing slowly: every chunk arrives, in order, then EOF',
    servers: { main: { kind: 'slow', chunks: ['one ', 'two ', 'three'], intervalMs: 30 } },
    mergeReads: true,
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      for (let i = 0; i < 10; i++) {
        const r = await reader.read()
        if (r.done) break
        k.trace('read', r.value)
      }
      k.trace('closed', await k.outcome(s.closed, 500))
    },
  },
  {
    id: 'stream-locking',
    title: 'getReader/getWriter twice: the locked TypeErrors',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      s.readable.getReader()
      s.writable.getWriter()
      k.sync('getReader', () => s.readable.getReader())
      k.sync('getWriter', () => s.writable.getWriter())
      k.trace('locked', [s.readable.locked, s.writable.locked])
      await s.close()
    },
  },
  {
    id: 'stream-readable-cancel-unlocked',
    title: 'readable.cancel() without a reader; the socket still writes',
    servers: { main: { kind: 'sink' } },
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      k.trace('cancel', await k.outcome(s.readable.cancel()))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('still')))
      k.trace('close', await k.outcome(s.close(), 1000))
      k.trace('head', (await k.server(undefined, 'close')).head)
    },
  },
  // A socket reader's reads take a shortcut past the stream while nothing is queued; these hand
  // the same readable to another consumer afterwards, which must see the stream as a read left it.
  {
    id: 'stream-read-then-response-disturbed',
    title: 'one reader.read(), releaseLock(): new Response(readable) refuses the disturbed stream',
    servers: { main: { kind: 'greet', text: 'hi', then: 'open' } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      const r = await reader.read()
      k.trace('read', k.text(r.value as Uint8Array))
      reader.releaseLock()
      let response = 'accepted'
      try {
        new Response(s.readable)
      } catch (error) {
        response = (error as Error).name
      }
      k.trace('response', response)
      k.trace('locked', s.readable.locked)
      await s.close()
    },
  },
  {
    id: 'stream-read-then-for-await',
    title: 'the first chunk through a reader, the rest by for await; then EOF',
    servers: { main: { kind: 'slow', chunks: ['abc', 'def', 'ghi'], intervalMs: 40 } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      const first = await reader.read()
      k.trace('first', k.text(first.value as Uint8Array))
      reader.releaseLock()
      let rest = ''
      for await (const chunk of s.readable) rest += k.text(chunk)
      k.trace('rest', rest)
      k.trace('closed', await k.outcome(s.closed, 5000))
    },
  },
  {
    id: 'stream-read-then-pipe',
    title: 'the first chunk through a reader, the rest piped into a WritableStream',
    servers: { main: { kind: 'slow', chunks: ['abc', 'def', 'ghi'], intervalMs: 40 } },
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      const first = await reader.read()
      k.trace('first', k.text(first.value as Uint8Array))
      reader.releaseLock()
      let rest = ''
      const sink = new WritableStream({
        write(chunk) {
          rest += k.text(chunk as Uint8Array)
        },
      })
      k.trace('pipe', await k.outcome(s.readable.pipeTo(sink), 5000))
      k.trace('rest', rest)
    },
  },
  {
    id: 'stream-reads-across-relock',
    title: 'reads, releaseLock(), a new reader reads on; a read pending at cancel() then rejects',
    servers: { main: { kind: 'slow', chunks: ['abc', 'def'], intervalMs: 40 } },
    async run(k) {
      const s = k.connect(k.addr())
      const a = s.readable.getReader()
      k.trace('a', k.text((await a.read()).value as Uint8Array))
      a.releaseLock()
      const b = s.readable.getReader()
      k.trace('b', k.text((await b.read()).value as Uint8Array))
      k.watch('b.closed', b.closed)
      const pending = b.read()
      k.watch('pending', pending)
      k.trace('cancel', await k.outcome(b.cancel('enough')))
      await k.outcome(pending, 1000)
      await s.close()
    },
  },
  {
    id: 'stream-structured-clone',
    title: 'structuredClone() of the socket streams, without and with a transfer list',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const attempt = (name: string, f: () => unknown) => {
        try {
          f()
          k.trace(name, 'ok')
        } catch {
          // Node 20 throws a TypeError where Node 22+ and workerd throw a DataCloneError.
          k.trace(name, 'throws')
        }
      }
      attempt('clone-readable', () => structuredClone(s.readable))
      attempt('clone-writable', () => structuredClone(s.writable))
      attempt('transfer-readable', () =>
        // The scenario's types know no Transferable; the stream itself is what is tested.
        structuredClone(s.readable, { transfer: [s.readable] } as never)
      )
      attempt('transfer-writable', () => structuredClone(s.writable, { transfer: [s.writable] }))
      k.trace('locked', [s.readable.locked, s.writable.locked])
      await s.close()
    },
  },
]
