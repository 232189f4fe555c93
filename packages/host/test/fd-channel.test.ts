// The fd channel (fd-channel.ts and native/fd-channel.c) with real sockets: descriptors travel
// and stay usable, a hostile peer (a Python process writing raw SOCK_SEQPACKET messages) gets its
// junk dropped and its descriptors closed, a full socket buffer queues and drains in order, and
// the broker's connect gives the errors `net.connect` gives. Then `wharf dev` itself: isolated,
// the runtime dials on the channel; with WHARF_FD_CHANNEL=off on the IPC channel, and both work.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  FdChannel,
  connectForPassing,
  descriptorOf,
  fdChannelUnavailable,
  hasFdChannel,
  socketFromFd,
} from '../src/fd-channel.js'
import {
  FIXTURES,
  childPids,
  echoServer,
  get,
  startWharf,
  until,
  type TestServer,
} from './helpers.js'

/** How many of this process's descriptors are `link` (`socket:[inode]`). */
function copiesOf(link: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === link
    } catch {
      return false
    }
  }).length
}

/** Node 20 has no Promise.withResolvers. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

function channelPair(
  onA: (message: unknown, fd: number | undefined) => boolean = () => false,
  onB: (message: unknown, fd: number | undefined) => boolean = () => false
): { a: FdChannel; b: FdChannel; closedB: Promise<void> } {
  const pair = FdChannel.pair()
  assert.ok(pair)
  let closed = (): void => undefined
  const closedB = new Promise<void>((resolve) => (closed = resolve))
  return { a: new FdChannel(pair[0], onA), b: new FdChannel(pair[1], onB, closed), closedB }
}

function echoOnce(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (data: Buffer) => resolve(data.toString()))
    socket.once('error', reject)
    socket.write(text)
  })
}

describe('fd channel', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  let echo: TestServer
  before(async () => {
    echo = await echoServer()
  })
  after(() => echo.close())

  it('is built (npm ci builds it: packages/host/scripts/build-native.mjs)', () => {
    assert.ok(hasFdChannel(), fdChannelUnavailable)
  })

  it('passes a connected socket: the receiver talks on it, the sender keeps no copy', async () => {
    const received: { message: unknown; socket: net.Socket }[] = []
    const arrived = deferred()
    const { a, b } = channelPair(undefined, (message, fd) => {
      if (fd === undefined) return false
      received.push({ message, socket: socketFromFd(fd) })
      arrived.resolve()
      return true
    })
    const dialed = await connectForPassing('127.0.0.1', echo.port, AbortSignal.timeout(5000))
    const inode = readlinkSync(`/proc/self/fd/${dialed.fd}`)
    assert.equal(copiesOf(inode), 1)
    assert.ok(a.send({ t: 'dialed', id: 7, ok: true }, dialed))
    await arrived.promise
    const [{ message, socket }] = received as [(typeof received)[number]]
    assert.deepEqual(message, { t: 'dialed', id: 7, ok: true })
    assert.equal(socket.remotePort, echo.port)
    assert.equal(
      await echoOnce(socket, 'ping over a passed descriptor'),
      'ping over a passed descriptor'
    )
    // The sender's copy was closed when it went: only the receiver's socket holds one now.
    assert.equal(copiesOf(inode), 1)
    socket.destroy()
    await once(socket, 'close')
    assert.equal(copiesOf(inode), 0)
    a.close()
    b.close()
  })

  it('drops what a hostile peer sends that is not a bounded JSON message, and closes every descriptor it did not take', async () => {
    const pair = FdChannel.pair()
    assert.ok(pair)
    const channelEnd = readlinkSync(`/proc/self/fd/${pair[0]}`)
    const nullsBefore = copiesOf('/dev/null')
    const got: { message: unknown; fd: boolean }[] = []
    const closed = deferred()
    const channel = new FdChannel(
      pair[0],
      (message, fd) => {
        got.push({ message, fd: fd !== undefined })
        return false
      },
      () => closed.resolve()
    )
    const peer = spawn(
      'python3',
      [
        '-c',
        `
import array, os, socket
s = socket.socket(fileno=3)
def fds(n): return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [os.open('/dev/null', os.O_RDONLY) for _ in range(n)]))]
s.sendmsg([b'x' * 20000], fds(2))
s.sendmsg([b'not json'], fds(1))
s.sendmsg([b'{"t":"hello"}'], fds(3))
s.sendmsg([b'{"t":"last"}'])
s.close()
`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit', pair[1]] }
    )
    FdChannel.closeFd(pair[1])
    const [code] = (await once(peer, 'exit')) as [number | null]
    assert.equal(code, 0)
    await closed.promise
    assert.deepEqual(got, [
      { message: { t: 'hello' }, fd: true },
      { message: { t: 'last' }, fd: false },
    ])
    channel.close()
    // The peer sent 6 descriptors of /dev/null: none is open here. The channel's end is closed.
    assert.equal(copiesOf('/dev/null'), nullsBefore, 'every received descriptor is closed')
    assert.equal(copiesOf(channelEnd), 0)
  })

  it('queues while the peer does not read and delivers everything in order once it does', async () => {
    const pair = FdChannel.pair()
    assert.ok(pair)
    const sender = new FdChannel(pair[0], () => false)
    const count = 3000
    for (let i = 0; i < count; i++) assert.ok(sender.send({ t: 'n', i }))
    const seen: number[] = []
    const all = deferred()
    const receiver = new FdChannel(pair[1], (message) => {
      seen.push((message as { i: number }).i)
      if (seen.length === count) all.resolve()
      return false
    })
    await all.promise
    assert.deepEqual(
      seen,
      Array.from({ length: count }, (_, i) => i)
    )
    sender.close()
    receiver.close()
  })

  it('refuses a message too long for it, and tells the other end when one side closes', async () => {
    const { a, b, closedB } = channelPair()
    assert.equal(a.send({ t: 'x', text: 'y'.repeat(9000) }), false)
    a.close()
    await closedB
    assert.equal(b.send({ t: 'x' }), false)
  })

  it('connects as net.connect fails: ECONNREFUSED by name, an abort closes the attempt', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve(port))
      })
    })
    await assert.rejects(connectForPassing('127.0.0.1', closedPort, AbortSignal.timeout(5000)), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
      message: `connect ECONNREFUSED 127.0.0.1:${closedPort}`,
    })
    // An aborted attempt is closed: the server sees every connection it accepted end.
    let accepted = 0
    let ended = 0
    const server = net.createServer((socket) => {
      accepted++
      socket.on('close', () => ended++).on('error', () => undefined)
      socket.resume()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as net.AddressInfo
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController()
      const attempt = connectForPassing('127.0.0.1', port, controller.signal)
      controller.abort(new Error('given up'))
      await assert.rejects(attempt, { message: 'given up' })
    }
    await until(() => ended === accepted && ended > 0, 5000)
    server.close()
    await assert.rejects(
      connectForPassing('not-an-address', 80, AbortSignal.timeout(5000)),
      /not a numeric address/
    )
    const v6 = await connectForPassing('::1', echo.port, AbortSignal.timeout(5000)).catch(
      () => undefined
    )
    // ::1 may be absent in a container; where it is there the echo server (dual-stack) is not.
    v6?.destroy()
    const ok = await connectForPassing('127.0.0.1', echo.port, AbortSignal.timeout(5000))
    assert.equal(typeof descriptorOf(ok), 'number')
    ok.destroy()
  })
})

/** Whether one of `pid`'s descriptors is a SOCK_SEQPACKET Unix socket (the fd channel). */
function hasSeqpacket(pid: number): boolean {
  const seqpacket = new Set(
    readFileSync('/proc/self/net/unix', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[4] === '0005')
      .map((f) => f[6])
  )
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]
      return inode !== undefined && seqpacket.has(inode)
    } catch {
      return false
    }
  })
}

/**
 * The Node process of the runtime under `pid`: the deepest process whose command line runs
 * runtime/child.js (bwrap's and unshare's processes above it name it too).
 */
function runtimeNode(pid: number): number | undefined {
  for (const child of childPids(pid)) {
    const deeper = runtimeNode(child)
    if (deeper !== undefined) return deeper
    if (readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('runtime/child.js')) return child
  }
  return undefined
}

describe(
  'wharf dev dials on the fd channel',
  { skip: process.platform !== 'linux' && 'Linux only' },
  () => {
    let echo: TestServer
    before(async () => {
      echo = await echoServer()
    })
    after(() => echo.close())

    for (const [label, args, env, expected] of [
      ['isolated and sandboxed, the runtime holds the channel', [], process.env, true],
      ['isolated, --sandbox off: the same', ['--sandbox', 'off'], process.env, true],
      [
        'WHARF_FD_CHANNEL=off: the IPC channel alone',
        [],
        { ...process.env, WHARF_FD_CHANNEL: 'off' },
        false,
      ],
    ] as const) {
      it(`${label}, and connect() works`, async () => {
        const wharf = await startWharf(
          join(FIXTURES, 'escape'),
          ['--no-watch', '--allow', `127.0.0.1:${echo.port}`, ...args],
          20_000,
          env
        )
        try {
          assert.match(wharf.output(), /Worker isolation: network namespace/)
          for (let i = 0; i < 20; i++) {
            const reply = await get(`${wharf.url}/socket?port=${echo.port}`)
            assert.equal(reply.body, 'reached: opened')
          }
          const runtime = runtimeNode(wharf.pid)
          assert.ok(runtime !== undefined, 'found the runtime process')
          assert.equal(hasSeqpacket(runtime), expected)
        } finally {
          await wharf.stop()
        }
      })
    }

    it('a throw inside a channel callback is the Worker’s uncaught exception; the runtime serves on', async () => {
      // Port 1 is not allowed: the broker's denial comes back on the channel, and the socket's
      // unheard 'error' throws from the callback's tick queue. Node left that exception pending
      // in the native module: Node 20 aborted at the next callback, Node 22+ stopped taking
      // messages (every later request hung).
      const wharf = await startWharf(join(FIXTURES, 'throw-in-callback'), ['--no-watch'], 20_000)
      try {
        const first = await get(`${wharf.url}/`)
        for (let i = 0; i < 3; i++) {
          assert.equal((await get(`${wharf.url}/unheard-error?port=1`)).body, 'returned')
          const after = await get(`${wharf.url}/`, 5000)
          assert.equal(after.body, first.body, 'the same runtime process answers')
        }
        await until(() => /uncaught exception in the Worker/.test(wharf.output()), 5000, 'logged')
        assert.doesNotMatch(wharf.output(), /exited \(code|Assertion failed/)
      } finally {
        await wharf.stop()
      }
    })
  }
)
