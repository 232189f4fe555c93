// The socket's streams: BYOB reads, string writes, backpressure, half-open, large transfers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect } from '../src/index.js'
import * as msg from '../src/messages.js'
import { echoServer, settleWithin, tcpServer, waitFor } from '../../../test-support/servers.js'

test('BYOB reads fill caller buffers with exact sizes; readAtLeast; empty view refused', async (t) => {
  const payload = Buffer.from('0123456789abcdefghij')
  const server = await tcpServer((sock) => {
    sock.write(payload)
  })
  t.after(() => server.close())
  const s = connect(server.address)
  const reader = s.readable.getReader({ mode: 'byob' })
  await waitFor(() => server.connections === 1)
  // give the data time to arrive so exact sizes are deterministic
  await new Promise((r) => setTimeout(r, 50))
  const first = await reader.read(new Uint8Array(4))
  assert.equal(first.done, false)
  assert.equal(Buffer.from(first.value as Uint8Array).toString(), '0123')
  assert.equal((first.value as Uint8Array).buffer.byteLength, 4)
  const view = new Uint8Array(6)
  const second = await reader.read(view)
  assert.equal(Buffer.from(second.value as Uint8Array).toString(), '456789')
  assert.equal(view.byteLength, 0, 'the original view is detached, as in workerd')
  const rest = await (
    reader as unknown as { readAtLeast(n: number, v: Uint8Array): Promise<{ value: Uint8Array }> }
  ).readAtLeast(6, new Uint8Array(16))
  assert.ok(rest.value.byteLength >= 6)
  assert.equal(Buffer.from(rest.value).toString(), 'abcdefghij'.slice(0, rest.value.byteLength))
  await assert.rejects(reader.read(new Uint8Array(0)), {
    name: 'TypeError',
    message: msg.BYOB_EMPTY_VIEW,
  })
  await s.close()
})

test('BYOB reads at EOF return a zero-length view and done', async (t) => {
  const server = await tcpServer((sock) => sock.end())
  t.after(() => server.close())
  const s = connect(server.address)
  const reader = s.readable.getReader({ mode: 'byob' })
  const r = await reader.read(new Uint8Array(8))
  assert.equal(r.done, true)
  assert.equal(r.value?.byteLength, 0)
  await s.closed
})

test('writable accepts strings (UTF-8), views, ArrayBuffers; empty and undefined write nothing', async (t) => {
  const server = await echoServer()
  t.after(() => server.close())
  const s = connect(server.address)
  const writer = s.writable.getWriter()
  await writer.write('héllo ')
  await writer.write(new DataView(new TextEncoder().encode('dv ').buffer))
  await writer.write(new Uint16Array([0x6968]))
  await writer.write(new Uint8Array(0))
  await writer.write(undefined)
  await writer.write(new TextEncoder().encode(' ab').buffer)
  await waitFor(() => Buffer.concat(server.received).length >= 14)
  assert.equal(Buffer.concat(server.received).toString(), 'héllo dv hi ab')
  // a non-byte chunk is refused but the stream stays usable
  await assert.rejects(writer.write(42), { name: 'TypeError', message: msg.WRITE_BAD_TYPE })
  await writer.write('!')
  await waitFor(() => Buffer.concat(server.received).toString().endsWith('!'))
  await s.close()
})

test('highWaterMark sets the writable desiredSize in bytes', async (t) => {
  const server = await tcpServer(() => {})
  t.after(() => server.close())
  const dflt = connect(server.address)
  assert.equal(dflt.writable.getWriter().desiredSize, 1)
  const s = connect(server.address, { highWaterMark: 10 })
  const writer = s.writable.getWriter()
  assert.equal(writer.desiredSize, 10)
  const w = writer.write(new Uint8Array(16))
  assert.equal(writer.desiredSize, -6)
  await w
  await Promise.all([s.close(), dflt.close()])
})

test('1 MiB writes with real backpressure: writes wait for a slow reader, data arrives intact', async (t) => {
  // Loopback kernel buffers hold a few MiB, so send well past them in 1 MiB writes.
  const chunk = 1024 * 1024
  const size = 24 * chunk
  const payload = randomBytes(size)
  let resume: (() => void) | undefined
  const hash = createHash('sha256')
  let receivedBytes = 0
  const server = await tcpServer((sock) => {
    sock.pause() // read nothing until told: the client must feel backpressure
    resume = () => sock.resume()
    sock.on('data', (d: Buffer) => {
      hash.update(d)
      receivedBytes += d.length
    })
  }, false)
  t.after(() => server.close())
  const s = connect(server.address, { highWaterMark: chunk })
  await s.opened
  const writer = s.writable.getWriter()
  let accepted = 0
  const writing = (async () => {
    for (let off = 0; off < size; off += chunk) {
      await writer.ready
      void writer.write(payload.subarray(off, off + chunk))
      accepted += chunk
    }
    await writer.close()
  })()
  await new Promise((r) => setTimeout(r, 300))
  assert.ok(accepted < size, `all ${accepted} bytes were accepted while the peer read nothing`)
  assert.ok(writer.desiredSize !== null && writer.desiredSize <= 0, 'writer reports backpressure')
  resume?.()
  await writing
  await waitFor(() => server.events.includes('end'), 10000, 'server end')
  assert.equal(receivedBytes, size)
  assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'))
  await s.close()
})

test('1 MiB echoed back is read intact (bulk receive)', async (t) => {
  const server = await echoServer()
  t.after(() => server.close())
  const payload = randomBytes(1024 * 1024)
  const s = connect(server.address)
  const writer = s.writable.getWriter()
  const reading = (async () => {
    const parts: Uint8Array[] = []
    for await (const chunk of s.readable) parts.push(chunk)
    return Buffer.concat(parts)
  })()
  await writer.write(payload)
  await writer.close()
  const got = await reading
  assert.equal(got.length, payload.length)
  assert.ok(got.equals(payload))
  await s.closed
})

test('allowHalfOpen false: reading EOF flushes, sends FIN and resolves closed; later writes refused', async (t) => {
  const server = await tcpServer((sock) => {
    sock.end('bye')
  })
  t.after(() => server.close())
  const s = connect(server.address)
  const reader = s.readable.getReader()
  const writer = s.writable.getWriter()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  assert.equal(text, 'bye')
  await s.closed
  await waitFor(() => server.events.includes('end'), 2000, 'server sees FIN')
  await assert.rejects(writer.write('late'), { name: 'TypeError', message: msg.WRITABLE_CLOSED })
  assert.equal(await writer.closed, undefined, 'a held writer sees the write side closed')
})

test('allowHalfOpen false: writes queued before EOF are flushed before the FIN', async (t) => {
  const server = await tcpServer((sock) => {
    setTimeout(() => sock.end('bye'), 20)
  })
  t.after(() => server.close())
  const s = connect(server.address)
  const writer = s.writable.getWriter()
  void writer.write('last words')
  const reader = s.readable.getReader()
  while (!(await reader.read()).done);
  await s.closed
  await waitFor(() => server.events.includes('end'), 2000, 'server sees FIN')
  assert.equal(Buffer.concat(server.received).toString(), 'last words')
  assert.ok(server.events.indexOf('end') > server.events.findIndex((e) => e.startsWith('data:')))
})

test('allowHalfOpen true: EOF leaves the write side open; writes reach the peer; closed waits for close()', async (t) => {
  const server = await tcpServer((sock) => {
    sock.end('bye')
  })
  t.after(() => server.close())
  const s = connect(server.address, { allowHalfOpen: true })
  const reader = s.readable.getReader()
  const writer = s.writable.getWriter()
  assert.equal((await reader.read()).done, false)
  assert.equal((await reader.read()).done, true)
  assert.equal((await settleWithin(s.closed, 200)).state, 'pending')
  await writer.write('more')
  await waitFor(
    () => Buffer.concat(server.received).toString() === 'more',
    2000,
    'server got "more"'
  )
  assert.ok(!server.events.includes('end'))
  await writer.close()
  await waitFor(() => server.events.includes('end'), 2000, 'server sees FIN after writer.close()')
  assert.equal((await settleWithin(s.closed, 100)).state, 'pending')
  await s.close()
  await s.closed
})

test('writer.close() half-closes: the peer sees FIN and can still answer', async (t) => {
  const server = await tcpServer((sock) => {
    const parts: Buffer[] = []
    sock.on('data', (d: Buffer) => parts.push(d))
    sock.on('end', () => sock.end(`got ${Buffer.concat(parts).length}`))
  })
  t.after(() => server.close())
  const s = connect(server.address)
  const writer = s.writable.getWriter()
  await writer.write('12345')
  await writer.close()
  const reader = s.readable.getReader()
  const { value } = await reader.read()
  assert.equal(Buffer.from(value as Uint8Array).toString(), 'got 5')
  assert.equal((await reader.read()).done, true)
  await s.closed
})

test('remote RST: I/O fails with "Network connection lost." and closed settles', async (t) => {
  const server = await tcpServer((sock) => {
    setTimeout(() => sock.resetAndDestroy(), 50)
  })
  t.after(() => server.close())
  const s = connect(server.address, { allowHalfOpen: true })
  await s.opened
  const reader = s.readable.getReader()
  await assert.rejects(reader.read(), { message: msg.CONNECTION_LOST })
  await s.closed
})

test('reader.cancel() leaves the socket open for writing', async (t) => {
  const server = await echoServer()
  t.after(() => server.close())
  const s = connect(server.address)
  await s.opened
  await s.readable.getReader().cancel()
  const writer = s.writable.getWriter()
  await writer.write('still here')
  await waitFor(() => Buffer.concat(server.received).toString() === 'still here')
  assert.equal((await settleWithin(s.closed, 100)).state, 'pending')
  await s.close()
})

test('readable pipes into a Response body', async (t) => {
  const server = await tcpServer((sock) => sock.end('gopher-ish'))
  t.after(() => server.close())
  const s = connect(server.address)
  const text = await new Response(s.readable).text()
  assert.equal(text, 'gopher-ish')
  await s.close()
})

test("readers and writers are Node's classes to user code, whichever way they are asked for", async (t) => {
  const server = await echoServer()
  t.after(() => server.close())
  const s = connect(server.address)
  await s.opened
  const reader = s.readable.getReader()
  assert.ok(reader instanceof ReadableStreamDefaultReader)
  assert.equal(reader.constructor, ReadableStreamDefaultReader)
  reader.releaseLock()
  // Options other than `{ mode: 'byob' }` go through Node's own validation, as before.
  assert.throws(() => s.readable.getReader({ mode: 'bogus' } as never), { name: 'TypeError' })
  assert.equal(s.readable.locked, false)
  // A mode Node converts to 'byob' gets the socket's BYOB reader too.
  const converted = s.readable.getReader({ mode: new String('byob') } as never)
  assert.ok(converted instanceof ReadableStreamBYOBReader)
  assert.equal(typeof (converted as unknown as { readAtLeast?: unknown }).readAtLeast, 'function')
  converted.releaseLock()
  const byob = s.readable.getReader({ mode: 'byob' })
  assert.ok(byob instanceof ReadableStreamBYOBReader)
  assert.equal(byob.constructor, ReadableStreamBYOBReader)
  assert.equal(typeof (byob as unknown as { readAtLeast?: unknown }).readAtLeast, 'function')
  const writer = s.writable.getWriter()
  assert.ok(writer instanceof WritableStreamDefaultWriter)
  assert.equal(writer.constructor, WritableStreamDefaultWriter)
  await writer.write(new TextEncoder().encode('ping'))
  const { value } = await byob.read(new Uint8Array(4))
  assert.equal(Buffer.from(value as Uint8Array).toString(), 'ping')
  // Not transferable (workerd's are not either); on Node 22+ Node's own transfer still applies.
  if (Number(process.versions.node.split('.')[0]) === 20) {
    const other = connect(server.address)
    assert.throws(() => structuredClone(other.readable, { transfer: [other.readable] }))
    assert.equal(other.readable.locked, false)
    assert.ok(other.readable instanceof ReadableStream)
    await other.close()
  }
  await s.close()
})
