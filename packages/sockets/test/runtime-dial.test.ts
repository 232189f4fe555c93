// The runtime's `dial` seam: a broker opens the connection (here, a real child process that
// passes the connected socket's handle back, as the host's broker does) and connect() layers
// workerd's semantics and TLS on it.
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { connect } from '../src/index.js'
import { CONNECT_FAILED, PORT_25_PROHIBITED } from '../src/messages.js'
import { setSocketRuntime, type DialTarget } from '../src/runtime.js'
import { testPki } from '../../../test-support/certs.js'
import { echoServer, tcpServer, tlsServer, type TestServer } from '../../../test-support/servers.js'

const pki = testPki()

// A tiny broker process: connects where asked and sends the socket's handle back.
const BROKER = `
const net = require('node:net')
process.on('message', ({ id, host, port }) => {
  const s = net.connect({ host, port })
  s.pause()
  s.once('connect', () => process.send({ id, ok: true }, s))
  s.once('error', (e) => process.send({ id, ok: false, message: e.message }))
})
`

describe('runtime dial: connections opened by a broker process', () => {
  let dir: string
  let broker: ReturnType<typeof fork>
  let nextId = 1
  const waiting = new Map<
    number,
    (value: { ok: boolean; message?: string }, s?: net.Socket) => void
  >()
  const dials: DialTarget[] = []

  function brokerDial(target: DialTarget, signal: AbortSignal): Promise<net.Socket> {
    dials.push(target)
    const id = nextId++
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        waiting.delete(id)
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      waiting.set(id, (reply, socket) => {
        signal.removeEventListener('abort', onAbort)
        if (reply.ok && socket) resolve(socket)
        else reject(new Error(reply.message ?? 'dial failed'))
      })
      broker.send({ id, host: target.hostname, port: target.port })
    })
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-broker-'))
    writeFileSync(join(dir, 'broker.cjs'), BROKER)
    broker = fork(join(dir, 'broker.cjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    broker.on(
      'message',
      (reply: { id: number; ok: boolean; message?: string }, socket?: net.Socket) => {
        const settle = waiting.get(reply.id)
        waiting.delete(reply.id)
        if (settle) settle(reply, socket)
        else socket?.destroy()
      }
    )
    await once(broker, 'spawn')
  })
  after(() => {
    setSocketRuntime(undefined)
    broker.kill()
    rmSync(dir, { recursive: true, force: true })
  })

  it('echoes through a socket the broker connected, with server-first data kept', async (t) => {
    const server = await tcpServer((s) => {
      s.write('hello ')
      s.on('data', (d) => s.write(d))
    })
    t.after(() => server.close())
    setSocketRuntime({ admit: () => ({ dial: brokerDial }) })
    const socket = connect(`localhost:${server.port}`)
    const info = await socket.opened
    assert.equal(info.remoteAddress, `localhost:${server.port}`)
    const writer = socket.writable.getWriter()
    await writer.write('world')
    const reader = socket.readable.getReader()
    let text = ''
    while (text.length < 'hello world'.length) {
      const { value, done } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString()
    }
    assert.equal(text, 'hello world')
    assert.deepEqual(dials.at(-1), { hostname: 'localhost', port: server.port })
    await socket.close()
  })

  it('keeps workerd half-open rules on a passed socket (allowHalfOpen true)', async (t) => {
    const server: TestServer = await tcpServer((s) => {
      s.end('bye')
    })
    t.after(() => server.close())
    setSocketRuntime({ admit: () => ({ dial: brokerDial }) })
    const socket = connect(`127.0.0.1:${server.port}`, { allowHalfOpen: true })
    const reader = socket.readable.getReader()
    assert.equal(Buffer.from((await reader.read()).value ?? []).toString(), 'bye')
    assert.equal((await reader.read()).done, true)
    // Still writable after the peer's FIN.
    const writer = socket.writable.getWriter()
    await writer.write('after-fin')
    await socket.close()
  })

  it("layers TLS on the dialled socket for secureTransport 'on', verifying the certificate", async (t) => {
    const server = await tlsServer({ key: pki.localhost.key, cert: pki.localhost.cert })
    t.after(() => server.close())
    setSocketRuntime({ admit: () => ({ dial: brokerDial, ca: pki.ca }) })
    const socket = connect(`localhost:${server.port}`, { secureTransport: 'on' })
    await socket.opened
    const writer = socket.writable.getWriter()
    await writer.write('tls')
    const { value } = await socket.readable.getReader().read()
    assert.equal(Buffer.from(value ?? []).toString(), 'tls')
    await socket.close()
    // Without the test CA the same dialled connection is refused: verification is on.
    setSocketRuntime({ admit: () => ({ dial: brokerDial }) })
    const untrusted = connect(`localhost:${server.port}`, { secureTransport: 'on' })
    await assert.rejects(untrusted.opened, { message: CONNECT_FAILED })
  })

  it('a refused dial fails like workerd, or with the message the dial error carries', async () => {
    const echo = await echoServer()
    await echo.close()
    setSocketRuntime({ admit: () => ({ dial: brokerDial }) })
    await assert.rejects(connect(`127.0.0.1:${echo.port}`).opened, { message: CONNECT_FAILED })
    setSocketRuntime({
      admit: () => ({
        dial: () =>
          Promise.reject(Object.assign(new Error('denied'), { workerMessage: PORT_25_PROHIBITED })),
      }),
    })
    await assert.rejects(connect('127.0.0.1:25').opened, { message: PORT_25_PROHIBITED })
  })

  it('a dial that never answers is aborted by the connect timeout', async () => {
    let aborted = false
    setSocketRuntime({
      admit: () => ({
        connectTimeoutMs: 100,
        dial: (_target, signal) =>
          new Promise<net.Socket>((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              aborted = true
              reject(new Error('aborted'))
            })
          }),
      }),
    })
    const started = Date.now()
    await assert.rejects(connect('127.0.0.1:9').opened, { message: CONNECT_FAILED })
    assert.ok(Date.now() - started < 2000)
    assert.equal(aborted, true)
  })
})
