// The dial relay: an isolated runtime's loopback connection to the supervisor, its first frame
// and the relayed bytes. Real loopback servers, the real broker and egress policy, the real
// runtime-side dialer; hostile frames are written by hand.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net, { type AddressInfo, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { DialBroker } from '../src/broker.js'
import { DialRelay, type RelayDial } from '../src/dial-relay.js'
import { createHostPolicy } from '../src/egress.js'
import { encodeRequest, parseReply, SECRET_BYTES } from '../src/relay-frame.js'
import { relayDialer } from '../src/runtime/relay-client.js'

const secret = randomBytes(SECRET_BYTES)

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

/** Reads `socket` to its end (or its error); resolves with what arrived and how it ended. */
function drain(socket: Socket): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    let data = ''
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()))
    socket.once('end', () => resolve({ data }))
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ data, error: error.code }))
  })
}

describe('dial relay', () => {
  const upstreams: Socket[] = []
  let upstream: net.Server
  let upstreamPort = 0
  let relayServer: net.Server
  let relay: DialRelay
  let relayPort = 0
  let dials = 0
  let dialer: ReturnType<typeof relayDialer>

  before(async () => {
    // Says hello first (a server greeting, which may share a chunk with the status frame), answers
    // each chunk upper-cased ("reset" with a reset) and, on FIN, writes "bye" and ends.
    upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
      upstreams.push(socket)
      socket.on('error', () => undefined)
      socket.on('data', (chunk: Buffer) => {
        const text = chunk.toString()
        if (text === 'reset') socket.resetAndDestroy()
        else socket.write(text.toUpperCase())
      })
      socket.on('end', () => socket.end('bye'))
      socket.write('hello ')
    })
    upstreamPort = await listen(upstream)
    const broker = new DialBroker(
      createHostPolicy({
        egress: { allow: ['127.0.0.1/32'], deny: [] },
        exceptions: [],
        hostAddresses: [],
        onDenied: () => undefined,
      }),
      { connectTimeoutMs: 2000, maxPendingDials: 8 }
    )
    const dial: RelayDial = (request, reply) => {
      dials++
      void broker.handle(request, reply)
    }
    relayServer = net.createServer()
    relayPort = await listen(relayServer)
    relay = new DialRelay(relayServer, secret, dial, {
      headerTimeoutMs: 300,
      maxHandshakes: 4,
      maxRelays: 16,
    })
    dialer = relayDialer(relayPort, secret, 2000)
  })
  after(() => {
    relay.close()
    upstream.close()
    for (const s of upstreams) s.destroy()
  })

  it('relays both ways, a greeting sent with the status included, and passes FIN both ways', async () => {
    const socket = await dialer({ hostname: '127.0.0.1', port: upstreamPort })
    const done = drain(socket)
    socket.resume()
    socket.write('ping')
    // Half-close: the upstream still answers after our FIN, then ends its side.
    await new Promise((r) => setTimeout(r, 50))
    socket.end()
    assert.deepEqual(await done, { data: 'hello PINGbye' })
    await once(socket, 'close')
  })

  it('passes a reset on: the runtime sees ECONNRESET as from a direct socket', async () => {
    const socket = await dialer({ hostname: '127.0.0.1', port: upstreamPort })
    const done = drain(socket)
    socket.resume()
    socket.write('reset')
    const result = await done
    assert.equal(result.error, 'ECONNRESET')
  })

  it('answers a refusal with the broker reason and the Worker message (port 25)', async () => {
    await assert.rejects(dialer({ hostname: '127.0.0.1', port: 25 }), (error: Error) => {
      assert.equal((error as { code?: string }).code, 'ERR_WHARF_DIAL')
      assert.match(error.message, /egress denied/)
      assert.match((error as { workerMessage?: string }).workerMessage ?? '', /port 25/)
      return true
    })
    await assert.rejects(dialer({ hostname: '127.0.0.1', port: 0 }), /malformed dial request/)
  })

  it('closes a connection with the wrong secret without a reply or a dial', async () => {
    const before = dials
    const socket = net.connect(relayPort, '127.0.0.1')
    socket.write(
      encodeRequest(randomBytes(SECRET_BYTES), { hostname: '127.0.0.1', port: upstreamPort })
    )
    const result = await drain(socket)
    assert.equal(result.data, '')
    assert.equal(dials, before)
  })

  it('closes a connection that does not name its target in time, or names one too long', async () => {
    const slow = net.connect(relayPort, '127.0.0.1')
    slow.write(secret.subarray(0, 10))
    const started = performance.now()
    const result = await drain(slow)
    assert.equal(result.data, '')
    assert.ok(performance.now() - started >= 250, 'waited for the header timeout')
    const long = net.connect(relayPort, '127.0.0.1')
    const frame = Buffer.alloc(SECRET_BYTES + 5)
    secret.copy(frame)
    frame.writeUInt16BE(80, SECRET_BYTES)
    frame.writeUInt16BE(60_000, SECRET_BYTES + 2)
    long.write(frame)
    assert.deepEqual(await drain(long), { data: '' })
  })

  it('bounds the connections that have not named their target yet', async () => {
    const idle = Array.from({ length: 4 }, () => net.connect(relayPort, '127.0.0.1'))
    await Promise.all(idle.map((s) => once(s, 'connect')))
    await new Promise((r) => setTimeout(r, 20))
    // The fifth is closed at once, long before the header timeout.
    const fifth = net.connect(relayPort, '127.0.0.1')
    const started = performance.now()
    await drain(fifth)
    assert.ok(performance.now() - started < 250, 'closed before the header timeout')
    for (const s of idle) s.destroy()
  })

  it('relays many dials in parallel and forgets each once closed', async () => {
    await new Promise((r) => setTimeout(r, 350))
    const sockets = await Promise.all(
      Array.from({ length: 12 }, () => dialer({ hostname: '127.0.0.1', port: upstreamPort }))
    )
    assert.equal(relay.size, 12)
    const replies = await Promise.all(
      sockets.map((s) => {
        const done = drain(s)
        s.resume()
        s.end('x')
        return done
      })
    )
    for (const r of replies) assert.equal(r.data, 'hello Xbye')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(relay.size, 0)
  })

  it('parses a refusal frame only within its bounds', () => {
    assert.deepEqual(parseReply(Buffer.from([0])), { kind: 'ok', used: 1 })
    assert.deepEqual(parseReply(Buffer.from([7])), { kind: 'bad' })
    assert.deepEqual(parseReply(Buffer.from([1, 0xff, 0xff, 0, 0])), { kind: 'bad' })
    assert.deepEqual(parseReply(Buffer.from([1, 0, 3, 0xff, 0xff, 0x61])), { kind: 'partial' })
  })
})
