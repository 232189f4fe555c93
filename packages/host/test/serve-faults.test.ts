// Host faults under wharf serve (issue 21): slowloris clients, huge headers and bodies, a socket
// peer that resets mid-stream, 10,000 dial requests forged from Worker code, and a Worker that
// leaks sockets. The host keeps serving, every other response is correct, no forged dial reaches
// its target, no file descriptor grows; the admin listener reports it.
import assert from 'node:assert/strict'
import net from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ALLOW_TEST_SERVERS, FIXTURES, echoServer, until, type TestServer } from './helpers.js'
import { metrics, request, sample, startServed, treeFds, type Served } from './serve-helpers.js'

describe('wharf serve: hostile clients and Worker code', () => {
  let served: Served
  let echo: TestServer
  let counting: TestServer
  let reset: net.Server
  let resetPort = 0
  let fdsBefore = 0

  before(async () => {
    echo = await echoServer()
    counting = await echoServer()
    reset = net.createServer((socket) => {
      socket.on('error', () => undefined)
      socket.write('pa')
      setTimeout(() => socket.resetAndDestroy(), 20)
    })
    await new Promise<void>((resolve) => reset.listen(0, '127.0.0.1', resolve))
    resetPort = (reset.address() as net.AddressInfo).port
    served = await startServed(join(FIXTURES, 'serve'), [
      '--processes',
      '2',
      '--admin-port',
      '0',
      '--allow',
      ALLOW_TEST_SERVERS,
      '--deny',
      `127.0.0.1:${counting.port}`,
    ])
    const warm = await Promise.all(
      Array.from({ length: 20 }, () => request(`${served.url}/echo?port=${echo.port}`))
    )
    assert.deepEqual(
      warm.map((a) => a.body),
      Array(20).fill('ping')
    )
    await until(() => echo.conns.every((c) => c.closed), 5000)
    fdsBefore = treeFds(served.pid)
  })
  after(async () => {
    await served.stop()
    await Promise.all([echo.close(), counting.close()])
    await new Promise<void>((resolve) => reset.close(() => resolve()))
  })

  const healthy = async (): Promise<void> => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => request(`${served.url}/echo?port=${echo.port}`))
    )
    assert.deepEqual(
      answers.map((a) => `${a.status} ${a.body}`),
      Array(20).fill('200 ping')
    )
  }

  it('serves through slowloris clients, huge headers and a huge body', async () => {
    const slow: net.Socket[] = []
    for (let i = 0; i < 100; i++) {
      const s = net.connect(Number(new URL(served.url).port), '127.0.0.1')
      s.on('error', () => undefined)
      s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ')
      slow.push(s)
    }
    await new Promise((r) => setTimeout(r, 300))
    await healthy()
    const huge = await request(`${served.url}/`, { headers: { 'x-huge': 'a'.repeat(64 * 1024) } })
    assert.ok(huge.status === 431 || huge.status === 0, `huge headers: ${huge.status}`)
    const body = await new Promise<number>((resolve) => {
      const s = net.connect(Number(new URL(served.url).port), '127.0.0.1')
      s.on('error', () => resolve(-1))
      s.write(`POST /sleep?ms=1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 << 20}\r\n\r\n`)
      const chunk = Buffer.alloc(1 << 20, 97)
      let sent = 0
      const pump = (): void => {
        while (sent < 64 && s.write(chunk)) sent++
        if (sent < 64) s.once('drain', pump)
      }
      pump()
      let reply = ''
      s.on('data', (c: Buffer) => {
        reply += c.toString()
        if (reply.includes('\r\n\r\n')) {
          resolve(Number(reply.split(' ')[1]))
          s.destroy()
        }
      })
      setTimeout(() => {
        s.destroy()
        resolve(-2)
      }, 20_000)
    })
    assert.equal(body, 200, 'the Worker answered without reading the 64 MB body')
    await healthy()
    for (const s of slow) s.destroy()
  })

  it('keeps serving when a socket peer resets mid-stream', async () => {
    const cut = await Promise.all(
      Array.from({ length: 10 }, () => request(`${served.url}/echo?port=${resetPort}`))
    )
    // Each cut request is answered (see the todo below for which answer), none hangs or is lost.
    for (const a of cut)
      assert.ok(a.status === 500 || a.status === 200, JSON.stringify(a).slice(0, 200))
    await healthy()
  })

  // todo while the cause stands: when the peer's data and its RST are both pending by the time
  // the event loop polls (a busy machine), libuv reads the data and, seeing POLLHUP after a
  // partial read, reports EOF without the read that would return ECONNRESET, so the Worker sees
  // a clean end (200) instead of "Network connection lost." (500). workerd reads the error.
  it(
    'a peer reset mid-stream reaches the Worker as "Network connection lost." (500)',
    {
      todo: 'a reset right after data can read as EOF on a busy machine (libuv POLLHUP short-cut)',
    },
    async () => {
      const cut = await Promise.all(
        Array.from({ length: 10 }, () => request(`${served.url}/echo?port=${resetPort}`))
      )
      for (const a of cut) assert.equal(a.status, 500, JSON.stringify(a).slice(0, 200))
    }
  )

  it('answers 10,000 forged dial requests without one connection reaching the target', async () => {
    const forged = await request(`${served.url}/forge?port=${counting.port}&n=10000`, {
      timeoutMs: 60_000,
    })
    assert.equal(forged.status, 200, JSON.stringify(forged).slice(0, 300))
    const admin = served.admin ?? ''
    const rule = `deny cidr:127.0.0.1/32:${counting.port}`
    let text = ''
    await until(
      () => {
        void metrics(admin).then((t) => (text = t))
        return sample(text, `wharf_egress_denials_total{rule="${rule}"}`) >= 9000
      },
      30_000,
      'the broker answered the forged dials'
    )
    assert.equal(counting.conns.length, 0, 'no forged dial connected')
    assert.ok(sample(text, 'wharf_broker_dials_total{outcome="denied"}') >= 9000)
    await healthy()
    const status = JSON.parse((await request(`${admin}/status.json`)).body) as {
      recentDenials: { rule: string; worker: string }[]
    }
    assert.equal(status.recentDenials[0]?.rule, rule)
    assert.equal(status.recentDenials[0]?.worker, 'serve-fixture')
  })

  it('closes the sockets a Worker leaks', async () => {
    const before = echo.conns.length
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => request(`${served.url}/leak?port=${echo.port}`))
    )
    assert.deepEqual([...new Set(answers.map((a) => a.body))], ['leaked'])
    // A response can come back before this process has run the echo server's accept callback
    // (seen on Node 24 in CI): wait for the accepts, then count exactly.
    await until(
      () => echo.conns.length >= before + 100,
      10_000,
      'the echo server saw the dials'
    ).catch(() => undefined)
    assert.equal(echo.conns.length, before + 100)
    await until(
      () => echo.conns.every((c) => c.closed),
      10_000,
      'the host closed every leaked socket'
    )
  })

  it('grew no file descriptor and reports health', async () => {
    let after = 0
    await until(() => (after = treeFds(served.pid)) <= fdsBefore + 4, 15_000).catch(() => undefined)
    assert.ok(after <= fdsBefore + 4, `fds before ${fdsBefore}, after ${after}`)
    const admin = served.admin ?? ''
    assert.equal((await request(`${admin}/healthz`)).status, 200)
    assert.equal((await request(`${admin}/readyz`)).status, 200)
    const page = await request(`${admin}/`)
    assert.match(page.body, /Recent egress denials/)
    // Runtimes report their counts on a periodic tick, and socket closes up to 10 ms after them
    // (serve-runtime.ts): the last requests' and the leaked sockets' can still be on the way.
    let text = ''
    await until(
      () => {
        void metrics(admin).then((t) => (text = t))
        return (
          sample(text, 'wharf_requests_total{status="200"}') > 100 &&
          sample(text, 'wharf_sockets_open') === 0
        )
      },
      10_000,
      'the runtimes reported the requests'
    ).catch(() => undefined)
    assert.ok(sample(text, 'wharf_requests_total{status="200"}') > 100, text.slice(0, 2000))
    assert.ok(sample(text, 'wharf_request_duration_seconds_count') > 100)
    assert.equal(sample(text, 'wharf_sockets_open'), 0)
    // The supervisor's own gauges: its descriptors as /proc counts them, memory, a live loop.
    const ownFds = sample(text, 'process_open_fds')
    assert.ok(ownFds > 3 && ownFds <= treeFds(served.pid), `process_open_fds ${ownFds}`)
    assert.ok(sample(text, 'process_resident_memory_bytes') > 10 * 1024 * 1024)
    assert.ok(sample(text, 'nodejs_heap_size_used_bytes') > 1024 * 1024)
    const delay = sample(text, 'nodejs_eventloop_delay_p99_seconds')
    assert.ok(delay > 0 && delay < 5, `event-loop delay p99 ${delay} s`)
  })
})
