// Issue 14: the socket's streams with the rest of the Streams API: pipeTo/pipeThrough in and out
// with the prevent* options, encoder and compression chains, Response and Request bodies, and
// async iteration that breaks early.
import type { ReaderLike, Scenario } from '../src/types.js'

const echo = { main: { kind: 'echo' as const } }
const greetEnd = { main: { kind: 'greet' as const, text: 'piped text', then: 'end' as const } }
const greetOpen = { main: { kind: 'greet' as const, text: 'piped text', then: 'open' as const } }

export const interopScenarios: Scenario[] = [
  {
    id: 'pipe-out-default',
    title: 'readable.pipeTo(sink): the sink closes at EOF',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const parts: string[] = []
      const sink = new WritableStream<Uint8Array>({
        write: (c) => void parts.push(k.text(c)),
        close: () => void parts.push('<close>'),
      })
      k.trace('pipe', await k.outcome(s.readable.pipeTo(sink), 2000))
      k.trace('parts', parts.join(''))
      k.trace('closed', await k.outcome(s.closed, 1000))
    },
  },
  {
    id: 'pipe-out-prevent-close',
    title: 'readable.pipeTo(sink, { preventClose }): the sink stays open at EOF',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const parts: string[] = []
      const sink = new WritableStream<Uint8Array>({
        write: (c) => void parts.push(k.text(c)),
        close: () => void parts.push('<close>'),
      })
      k.trace('pipe', await k.outcome(s.readable.pipeTo(sink, { preventClose: true }), 2000))
      k.trace('parts', parts.join(''))
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 1000))
    },
  },
  {
    id: 'pipe-out-sink-errors',
    title: 'readable.pipeTo(sink) whose write throws: the socket readable is cancelled',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      const sink = new WritableStream<Uint8Array>({
        write: () => {
          throw new Error('sink broke')
        },
      })
      k.trace('pipe', await k.outcome(s.readable.pipeTo(sink), 2000))
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 300))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('still'), 1000))
      await s.close()
    },
  },
  {
    id: 'pipe-out-sink-errors-prevent-cancel',
    title: 'pipeTo(sink, { preventCancel }) whose write throws: the readable stays usable',
    servers: { main: { kind: 'slow', chunks: ['one', 'two'], intervalMs: 60 } },
    async run(k) {
      const s = k.connect(k.addr())
      const sink = new WritableStream<Uint8Array>({
        write: () => {
          throw new Error('sink broke')
        },
      })
      k.trace('pipe', await k.outcome(s.readable.pipeTo(sink, { preventCancel: true }), 2000))
      k.trace('locked', s.readable.locked)
      const reader = s.readable.getReader()
      k.trace('rest', await k.readAll(reader))
      await s.close()
    },
  },
  {
    id: 'pipe-out-abort-signal',
    title: 'pipeTo(sink, { signal }) aborted while waiting for data',
    servers: { main: { kind: 'silent' } },
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      const ac = new AbortController()
      const sink = new WritableStream<Uint8Array>()
      const piping = s.readable.pipeTo(sink, { signal: ac.signal })
      await k.sleep(30)
      ac.abort(new Error('stop'))
      k.trace('pipe', await k.outcome(piping, 2000))
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 300))
      await s.close()
    },
  },
  {
    id: 'pipe-in-default',
    title: 'source.pipeTo(writable): the socket half-closes after the source ends',
    servers: echo,
    params: { preventClose: false },
    async run(k, p) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(k.bytes('ab'))
          c.enqueue(k.bytes('cd'))
          c.close()
        },
      })
      k.trace(
        'pipe',
        await k.outcome(
          source.pipeTo(s.writable, { preventClose: p.preventClose as boolean }),
          2000
        )
      )
      k.trace('wlocked', s.writable.locked)
      const reader = s.readable.getReader()
      if (p.preventClose) {
        const w = s.writable.getWriter()
        k.trace('write', await k.outcome(w.write('ef'), 1000))
        k.trace('wclose', await k.outcome(w.close(), 1000))
      }
      k.trace('echo', await k.readAll(reader))
      k.trace('closed', await k.outcome(s.closed, 1000))
      await s.close()
    },
  },
  {
    id: 'pipe-in-prevent-close',
    title: 'source.pipeTo(writable, { preventClose }): the writable stays open for more writes',
    servers: echo,
    params: { preventClose: true },
    async run(k, p) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(k.bytes('ab'))
          c.enqueue(k.bytes('cd'))
          c.close()
        },
      })
      k.trace(
        'pipe',
        await k.outcome(
          source.pipeTo(s.writable, { preventClose: p.preventClose as boolean }),
          2000
        )
      )
      k.trace('wlocked', s.writable.locked)
      const reader = s.readable.getReader()
      if (p.preventClose) {
        const w = s.writable.getWriter()
        k.trace('write', await k.outcome(w.write('ef'), 1000))
        k.trace('wclose', await k.outcome(w.close(), 1000))
      }
      k.trace('echo', await k.readAll(reader))
      k.trace('closed', await k.outcome(s.closed, 1000))
      await s.close()
    },
  },
  {
    id: 'pipe-in-source-errors',
    title: 'source.pipeTo(writable) whose source errors: the socket writable is aborted',
    servers: { main: { kind: 'sink' } },
    params: { preventAbort: false },
    async run(k, p) {
      const s = k.connect(k.addr())
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(k.bytes('before'))
        },
        pull(c) {
          c.error(new Error('source broke'))
        },
      })
      k.trace(
        'pipe',
        await k.outcome(
          source.pipeTo(s.writable, { preventAbort: p.preventAbort as boolean }),
          2000
        )
      )
      k.trace('wlocked', s.writable.locked)
      const w = k.sync('getWriter', () => s.writable.getWriter())
      if (w) k.trace('write', await k.outcome(w.write('after'), 1000))
      k.trace('closed', await k.outcome(s.closed, 300))
      await s.close()
      k.trace('server', (await k.server(undefined, 'close')).head)
    },
  },
  {
    id: 'pipe-in-source-errors-prevent-abort',
    title:
      'source.pipeTo(writable, { preventAbort }) whose source errors: the writable stays usable',
    servers: { main: { kind: 'sink' } },
    params: { preventAbort: true },
    async run(k, p) {
      const s = k.connect(k.addr())
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(k.bytes('before'))
        },
        pull(c) {
          c.error(new Error('source broke'))
        },
      })
      k.trace(
        'pipe',
        await k.outcome(
          source.pipeTo(s.writable, { preventAbort: p.preventAbort as boolean }),
          2000
        )
      )
      k.trace('wlocked', s.writable.locked)
      const w = k.sync('getWriter', () => s.writable.getWriter())
      if (w) k.trace('write', await k.outcome(w.write('after'), 1000))
      k.trace('closed', await k.outcome(s.closed, 300))
      await s.close()
      k.trace('server', (await k.server(undefined, 'close')).head)
    },
  },
  {
    id: 'pipe-through-text-decoder',
    title: 'readable.pipeThrough(new TextDecoderStream())',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.pipeThrough(new TextDecoderStream()).getReader()
      let text = ''
      for (let i = 0; i < 20; i++) {
        const r = await reader.read()
        if (r.done) break
        text += r.value
      }
      k.trace('text', text)
      k.trace('closed', await k.outcome(s.closed, 1000))
    },
  },
  {
    id: 'pipe-text-encoder-in',
    title: 'strings through TextEncoderStream piped into the writable, echoed back',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const source = new ReadableStream<string>({
        start(c) {
          c.enqueue('héllo ')
          c.enqueue('wörld')
          c.close()
        },
      })
      k.trace(
        'pipe',
        await k.outcome(source.pipeThrough(new TextEncoderStream()).pipeTo(s.writable), 2000)
      )
      k.trace('echo', await k.readAll(s.readable.getReader()))
      await s.close()
    },
  },
  {
    id: 'pipe-compression-round-trip',
    title: 'gzip through the echo server: CompressionStream in, DecompressionStream out',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const text = 'compress me '.repeat(200)
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(k.bytes(text))
          c.close()
        },
      })
      const sending = source.pipeThrough(new CompressionStream('gzip')).pipeTo(s.writable)
      const out = s.readable.pipeThrough(new DecompressionStream('gzip'))
      const reader = out.getReader()
      let got = 0
      let same = true
      for (let i = 0; i < 100; i++) {
        const r = await reader.read()
        if (r.done) break
        const part = k.text(r.value as Uint8Array)
        same = same && text.slice(got, got + part.length) === part
        got += part.length
      }
      k.trace('sent', await k.outcome(sending, 2000))
      k.trace('got', { got, same })
      await s.close()
    },
  },
  {
    id: 'pipe-socket-to-socket',
    title: 'one socket’s readable piped into another socket’s writable',
    servers: { main: { kind: 'greet', text: 'relayed', then: 'end' }, sink: { kind: 'sink' } },
    async run(k) {
      const a = k.connect(k.addr('main'))
      const b = k.connect(k.addr('sink'), { allowHalfOpen: true })
      k.trace('pipe', await k.outcome(a.readable.pipeTo(b.writable), 2000))
      k.trace('b.reply', await k.readAll(b.readable.getReader()))
      k.trace('a.closed', await k.outcome(a.closed, 1000))
      await b.close()
    },
  },
  {
    id: 'body-response-array-buffer',
    title: 'new Response(socket.readable).arrayBuffer()',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const r = new Response(s.readable)
      k.trace('locked', s.readable.locked)
      const buf = await r.arrayBuffer()
      k.trace('bytes', buf.byteLength)
      k.trace('bodyUsed', r.bodyUsed)
      await s.close()
    },
  },
  {
    id: 'body-response-reader',
    title: 'new Response(socket.readable).body read chunk by chunk',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const body = new Response(s.readable).body
      k.trace('hasBody', body !== null)
      if (body) k.trace('read', await k.readAll(body.getReader() as unknown as ReaderLike))
      await s.close()
    },
  },
  {
    id: 'body-request',
    title: 'new Request(url, { body: socket.readable }).text()',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const req = new Request('http://example.invalid/', {
        method: 'POST',
        body: s.readable,
        duplex: 'half',
      })
      k.trace('locked', s.readable.locked)
      k.trace('text', await k.outcome(req.text(), 2000))
      await s.close()
    },
  },
  {
    id: 'body-response-locked-readable',
    title: 'new Response(readable) after a reader was taken: TypeError',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.getReader()
      const r = k.sync('response', () => new Response(s.readable))
      k.trace('made', r !== undefined)
      reader.releaseLock()
      await s.close()
    },
  },
  {
    id: 'body-response-after-close',
    title: 'new Response(readable).text() after close(): the closing error or empty',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      await s.close()
      const r = k.sync('response', () => new Response(s.readable))
      if (r) k.trace('text', await k.outcome(r.text(), 1000))
    },
  },
  {
    id: 'iter-break-first-chunk',
    title: 'for await … break after the first chunk: the readable is cancelled and unlocked',
    servers: { main: { kind: 'slow', chunks: ['one', 'two', 'three'], intervalMs: 150 } },
    async run(k) {
      const s = k.connect(k.addr())
      for await (const chunk of s.readable) {
        k.trace('chunk', k.text(chunk))
        break
      }
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 300))
      const reader = k.sync('getReader', () => s.readable.getReader())
      if (reader) k.trace('read', await k.outcome(reader.read(), 500))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('x'), 1000))
      await s.close()
    },
  },
  {
    id: 'iter-prevent-cancel',
    title: 'values({ preventCancel: true }) with break: reading continues with a new reader',
    servers: { main: { kind: 'slow', chunks: ['one', 'two'], intervalMs: 200 } },
    async run(k) {
      const s = k.connect(k.addr())
      const readable = s.readable as unknown as {
        values(o: { preventCancel: boolean }): AsyncIterable<Uint8Array>
      }
      for await (const chunk of readable.values({ preventCancel: true })) {
        k.trace('chunk', k.text(chunk))
        break
      }
      k.trace('locked', s.readable.locked)
      k.trace('rest', await k.readAll(s.readable.getReader()))
      await s.close()
    },
  },
  {
    id: 'iter-throw-inside',
    title: 'an exception inside for await: the readable is cancelled',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      try {
        for await (const chunk of s.readable) {
          k.trace('chunk', k.text(chunk))
          throw new Error('inside')
        }
      } catch (e) {
        k.trace('caught', e)
      }
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 300))
      await s.close()
    },
  },
  {
    id: 'iter-after-close',
    title: 'for await over the readable after close()',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      await s.close()
      try {
        for await (const chunk of s.readable) k.trace('chunk', k.text(chunk))
        k.trace('ended')
      } catch (e) {
        k.trace('caught', e)
      }
    },
  },
  {
    id: 'body-response-after-cancel',
    title: 'new Response(readable) after readable.cancel(): the stream is disturbed',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      k.trace('cancel', await k.outcome(s.readable.cancel('why'), 500))
      const r = k.sync('response', () => new Response(s.readable))
      if (r) k.trace('text', await k.outcome(r.text(), 1000))
      await s.close()
    },
  },
  {
    id: 'body-request-after-close',
    title: 'new Request(url, { body: readable }) after close()',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      await s.close()
      const req = k.sync(
        'request',
        () =>
          new Request('http://example.invalid/', {
            method: 'POST',
            body: s.readable,
            duplex: 'half',
          })
      )
      if (req) k.trace('text', await k.outcome(req.text(), 1000))
    },
  },
  {
    id: 'body-response-arraybuffer',
    title: 'new Response(readable).arrayBuffer(): every byte, then closed',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const buffer = await k.outcome(new Response(s.readable).arrayBuffer(), 2000)
      k.trace('arrayBuffer', buffer)
      k.trace('closed', await k.outcome(s.closed, 300))
      await s.close()
    },
  },
  {
    id: 'iter-return-explicit',
    title: 'values(): next(), then return(): unlocked, and a later read sees the cancel',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      const it = s.readable.values()
      const first = await k.outcome(it.next(), 2000)
      k.trace('next', first)
      k.trace('return', await k.outcome(it.return?.() ?? Promise.resolve('none'), 500))
      k.trace('locked', s.readable.locked)
      const reader = k.sync('getReader', () => s.readable.getReader())
      if (reader) k.trace('read', await k.outcome(reader.read(), 300))
      k.trace('closed', await k.outcome(s.closed, 200))
      await s.close()
    },
  },
  {
    id: 'iter-after-cancel',
    title: 'for await over a readable that was cancelled: no chunks',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      await s.opened
      k.trace('cancel', await k.outcome(s.readable.cancel(), 500))
      let chunks = 0
      try {
        for await (const chunk of s.readable) {
          chunks += chunk.length > 0 ? 1 : 0
          if (chunks > 10) break
        }
        k.trace('chunks', chunks)
      } catch (e) {
        k.trace('caught', e)
      }
      await s.close()
    },
  },
  {
    id: 'iter-next-twice',
    title: 'values(): two next() calls in one turn: both settle, in order',
    servers: { main: { kind: 'slow', chunks: ['one', 'two'], intervalMs: 200 } },
    async run(k) {
      const s = k.connect(k.addr())
      const it = s.readable.values()
      k.watch('next1', it.next())
      k.watch('next2', it.next())
      await k.sleep(1200)
      await s.close()
    },
  },
]

const greetRst = { main: { kind: 'greet' as const, text: 'partial', then: 'rst' as const } }

// pipeThrough chains in and out of the socket, and fetch bodies read after the peer reset.
interopScenarios.push(
  {
    id: 'pipe-decompress-garbage',
    title: 'readable.pipeThrough(DecompressionStream) fed bytes that are not gzip',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.pipeThrough(new DecompressionStream('gzip')).getReader()
      const r = (await k.outcome(reader.read(), 2000)) as { err?: { error?: string } }
      // The zlib message is each runtime's own; the error's type is what code can branch on.
      k.trace('read', r.err !== undefined ? { err: r.err.error } : r)
      await k.sleep(100)
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 300))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('still'), 1000))
      await s.close()
    },
  },
  {
    id: 'pipe-gzip-echo-response-text',
    title: 'gzip piped in, echoed, and read as new Response(readable.pipeThrough(gunzip)).text()',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const text = 'round trip '.repeat(300)
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(k.bytes(text.slice(0, 1000)))
          c.enqueue(k.bytes(text.slice(1000)))
          c.close()
        },
      })
      const sending = source.pipeThrough(new CompressionStream('gzip')).pipeTo(s.writable)
      const body = new Response(s.readable.pipeThrough(new DecompressionStream('gzip')))
      const got = await k.outcome(body.text(), 3000)
      k.trace('sent', await k.outcome(sending, 2000))
      k.trace('same', (got as { ok?: unknown }).ok === text)
      k.trace('closed', await k.outcome(s.closed, 1000))
      await s.close()
    },
  },
  {
    id: 'pipe-through-decoder-cancel',
    title: 'a TextDecoderStream reader cancelled after the first chunk cancels the socket readable',
    servers: greetOpen,
    async run(k) {
      const s = k.connect(k.addr())
      const reader = s.readable.pipeThrough(new TextDecoderStream()).getReader()
      k.trace('first', await k.outcome(reader.read(), 2000))
      k.trace('cancel', await k.outcome(reader.cancel('enough'), 1000))
      await k.sleep(50)
      k.trace('locked', s.readable.locked)
      k.trace('closed', await k.outcome(s.closed, 300))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('after'), 1000))
      k.trace('close', await k.outcome(s.close(), 1000))
    },
  },
  {
    id: 'pipe-through-decoder-peer-rst',
    title: 'readable.pipeThrough(TextDecoderStream) when the peer resets after a greeting',
    servers: greetRst,
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('closed', s.closed)
      const reader = s.readable.pipeThrough(new TextDecoderStream()).getReader()
      let text = ''
      for (let i = 0; i < 20; i++) {
        const r = (await k.outcome(reader.read(), 2000)) as {
          ok?: { done: boolean; value?: string }
          err?: unknown
        }
        if (r.ok?.done === false) {
          text += r.ok.value ?? ''
          continue
        }
        k.trace('text', text)
        k.trace('end', r.ok !== undefined ? 'done' : r)
        break
      }
      await k.outcome(s.closed, 1000)
      await k.sleep(20)
    },
  },
  {
    id: 'pipe-encoder-in-prevent-close',
    title: 'TextEncoderStream piped in with preventClose, then the writable used directly',
    servers: echo,
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      const source = new ReadableStream<string>({
        start(c) {
          c.enqueue('one ')
          c.enqueue('twö ')
          c.close()
        },
      })
      k.trace(
        'pipe',
        await k.outcome(
          source.pipeThrough(new TextEncoderStream()).pipeTo(s.writable, { preventClose: true }),
          2000
        )
      )
      k.trace('locked', s.writable.locked)
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('three'), 1000))
      k.trace('writer.close', await k.outcome(w.close(), 1000))
      k.trace('echo', await k.readAll(s.readable.getReader()))
      await s.close()
    },
  },
  {
    id: 'pipe-compression-in-source-error',
    title: 'a source that errors mid-way, through CompressionStream into the writable',
    servers: { main: { kind: 'silent' } },
    async run(k) {
      const s = k.connect(k.addr())
      let n = 0
      const source = new ReadableStream<Uint8Array>({
        pull(c) {
          if (n++ === 0) c.enqueue(k.bytes('first chunk'))
          else c.error(new Error('source broke'))
        },
      })
      const piping = source.pipeThrough(new CompressionStream('gzip')).pipeTo(s.writable)
      k.trace('pipe', await k.outcome(piping, 2000))
      k.trace('locked', s.writable.locked)
      k.trace('closed', await k.outcome(s.closed, 500))
      k.trace('close', await k.outcome(s.close(), 1000))
    },
  },
  {
    id: 'body-response-text-peer-rst',
    title: 'new Response(socket.readable).text() when the peer resets after a greeting',
    servers: greetRst,
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('closed', s.closed)
      k.trace('text', await k.outcome(new Response(s.readable).text(), 2000))
      await k.outcome(s.closed, 1000)
      k.trace('close', await k.outcome(s.close(), 1000))
    },
  },
  {
    id: 'body-response-arraybuffer-peer-rst',
    title: 'new Response(socket.readable).arrayBuffer() when the peer resets after a greeting',
    servers: greetRst,
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('closed', s.closed)
      const r = await k.outcome(new Response(s.readable).arrayBuffer(), 2000)
      k.trace('arrayBuffer', r)
      await k.outcome(s.closed, 1000)
      await k.sleep(20)
    },
  },
  {
    id: 'body-response-text-rst-no-data',
    title: 'new Response(socket.readable).text() when the peer resets without sending',
    servers: { main: { kind: 'greet', text: '', then: 'rst' } },
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('closed', s.closed)
      k.trace('text', await k.outcome(new Response(s.readable).text(), 2000))
      await k.outcome(s.closed, 1000)
      await k.sleep(20)
    },
  },
  {
    id: 'body-request-text-peer-rst',
    title: 'new Request(url, { body: socket.readable }).text() when the peer resets',
    servers: greetRst,
    async run(k) {
      const s = k.connect(k.addr())
      k.watch('closed', s.closed)
      const req = new Request('http://example.invalid/', {
        method: 'POST',
        body: s.readable,
        duplex: 'half',
      })
      k.trace('text', await k.outcome(req.text(), 2000))
      k.trace('bodyUsed', req.bodyUsed)
      await k.outcome(s.closed, 1000)
      await k.sleep(20)
    },
  },
  {
    id: 'body-request-arraybuffer',
    title: 'new Request(url, { body: socket.readable }).arrayBuffer() at EOF',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const req = new Request('http://example.invalid/', {
        method: 'PUT',
        body: s.readable,
        duplex: 'half',
      })
      const buf = await req.arrayBuffer()
      k.trace('bytes', k.text(new Uint8Array(buf)))
      k.trace('bodyUsed', req.bodyUsed)
      k.trace('again', await k.outcome(req.text(), 500).then((r) => Object.keys(r as object)))
      await s.close()
    },
  },
  {
    id: 'body-response-clone',
    title: 'new Response(socket.readable).clone(): both copies read the same text',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const a = new Response(s.readable)
      const b = a.clone()
      const [ta, tb] = await Promise.all([a.text(), b.text()])
      k.trace('texts', [ta, tb])
      await s.close()
    },
  },
  {
    id: 'body-response-json-then-write',
    title: 'allowHalfOpen true: new Response(readable).json() at the peer FIN, then write',
    servers: { main: { kind: 'greet', text: '{"a":[1,2]}', then: 'end' } },
    async run(k) {
      const s = k.connect(k.addr(), { allowHalfOpen: true })
      k.trace('json', await k.outcome(new Response(s.readable).json(), 2000))
      const w = s.writable.getWriter()
      k.trace('write', await k.outcome(w.write('after eof'), 1000))
      k.trace('close', await k.outcome(s.close(), 1000))
      k.trace('server', (await k.server(undefined, 'close', 3000)).head)
    },
  },
  {
    id: 'body-response-blob',
    title: 'new Response(socket.readable).blob(): size and text',
    servers: greetEnd,
    async run(k) {
      const s = k.connect(k.addr())
      const blob = await new Response(s.readable).blob()
      k.trace('blob', { size: blob.size, text: await blob.text() })
      await s.close()
    },
  }
)
