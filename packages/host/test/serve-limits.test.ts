// wharf serve's limits and faults with real processes: a request that spins past limits.cpu_ms
// gets Cloudflare's Error 1102 while other requests are answered by the other runtime; memory
// bombs (heap and buffers) recycle the runtime; process.exit and a throw in a timer; the
// subrequest limit; kill -9 of a runtime with 50 requests in flight; every stop is replaced.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ALLOW_TEST_SERVERS, FIXTURES, echoServer, until, type TestServer } from './helpers.js'
import { metrics, request, runtimePids, sample, startServed, type Served } from './serve-helpers.js'

describe('wharf serve: limits and faults', () => {
  let served: Served
  let echo: TestServer

  before(async () => {
    echo = await echoServer()
    served = await startServed(join(FIXTURES, 'serve'), [
      '--processes',
      '2',
      '--admin-port',
      '0',
      '--allow',
      ALLOW_TEST_SERVERS,
    ])
  })
  after(async () => {
    assert.equal(await served.stop(), 0, 'SIGTERM drains and exits 0')
    await echo.close()
  })

  const bothReady = async (): Promise<void> => {
    await until(() => runtimePids(served.pid).length === 2, 60_000, 'two runtimes')
    const admin = served.admin ?? ''
    let text = ''
    await until(
      () => {
        void metrics(admin).then((t) => (text = t))
        return sample(text, 'wharf_runtimes{state="ready"}') === 2
      },
      60_000,
      'two ready runtimes'
    )
  }

  it('runs its runtimes sandboxed by default (bubblewrap), as wharf dev does', async () => {
    await bothReady()
    assert.match(served.output(), /Worker sandbox: bubblewrap .*Node permission model/)
    for (const pid of runtimePids(served.pid)) {
      assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'bwrap')
    }
  })

  it('answers a spinning request with Error 1102 and serves others meanwhile', async () => {
    await bothReady()
    let spinDone = false
    const spin = request(`${served.url}/spin?ms=60000`, { timeoutMs: 60_000 }).finally(() => {
      spinDone = true
    })
    await new Promise((r) => setTimeout(r, 300))
    // The other runtime answers while one is stuck: not after the CPU limit (1.5 s).
    const other = await request(`${served.url}/sleep?ms=10`)
    assert.equal(other.status, 200, JSON.stringify(other))
    assert.ok(!spinDone, `another request waited ${other.ms} ms: until the spin was stopped`)
    const stuck = await spin
    assert.equal(stuck.status, 503)
    assert.match(stuck.body, /Error 1102/)
    assert.match(stuck.body, /Worker exceeded resource limits/)
    await served.waitFor(/stopped: cpu: .*limits\.cpu_ms 1500/)
    await bothReady()
    assert.equal(sample(await metrics(served.admin ?? ''), 'wharf_cpu_limit_kills_total'), 1)
    assert.equal((await request(`${served.url}/`)).status, 200)
  })

  it('recycles a runtime whose Worker grows past the memory limit (heap and buffers)', async () => {
    for (const path of ['/bomb', '/buffers']) {
      await bothReady()
      const bomb = await request(`${served.url}${path}`, { timeoutMs: 30_000 })
      assert.equal(bomb.status, 503, `${path}: ${JSON.stringify(bomb).slice(0, 300)}`)
      assert.match(bomb.body, /Error 1102/)
      assert.equal((await request(`${served.url}/`)).status, 200)
    }
    await served.waitFor(
      /stopped: memory: memory the Worker's heap and buffers hold \d+ MB after a full GC, over its limit of 64 MB/
    )
    // The 503 reaches the client before the supervisor has seen the process exit.
    let stops = 0
    await until(
      () => {
        void metrics(served.admin ?? '').then(
          (t) => (stops = sample(t, 'wharf_runtime_stops_total{reason="memory"}'))
        )
        return stops === 2
      },
      10_000,
      'two memory stops counted'
    ).catch(() => undefined)
    assert.equal(stops, 2)
  })

  it('does not count garbage: a Worker holding 39 of its 64 MB at a time, six times over, is not recycled', async () => {
    await bothReady()
    const before = runtimePids(served.pid).sort()
    const stopsBefore = sample(
      await metrics(served.admin ?? ''),
      'wharf_runtime_stops_total{reason="memory"}'
    )
    const answer = await request(`${served.url}/garbage`, { timeoutMs: 60_000 })
    assert.equal(answer.status, 200, JSON.stringify(answer).slice(0, 300))
    assert.equal(answer.body, `collected ${6 * 400_000}`)
    assert.deepEqual(runtimePids(served.pid).sort(), before, 'the same runtime processes')
    assert.equal(
      sample(await metrics(served.admin ?? ''), 'wharf_runtime_stops_total{reason="memory"}'),
      stopsBefore
    )
  })

  it('answers the request of a Worker that calls process.exit, and restarts the runtime', async () => {
    await bothReady()
    const exit = await request(`${served.url}/exit`)
    assert.equal(exit.status, 503, JSON.stringify(exit))
    assert.match(exit.body, /runtime process was stopped because it exited/)
    await served.waitFor(/stopped: crash: exited \(code 3\)/)
    await bothReady()
    assert.equal((await request(`${served.url}/`)).status, 200)
  })

  it('keeps serving after an uncaught throw in a timer (logged, no restart)', async () => {
    await bothReady()
    const before = runtimePids(served.pid).sort()
    const thrown = await request(`${served.url}/throw-in-timer`)
    assert.equal(thrown.status, 200)
    assert.equal(thrown.body, 'after the throw')
    await served.waitFor(/uncaught exception in the Worker: Error: thrown in a timer/)
    assert.deepEqual(runtimePids(served.pid).sort(), before, 'the same runtime processes')
  })

  it("refuses subrequests past limits.subrequests with workerd's error", async () => {
    const answer = await request(`${served.url}/subrequests?port=${echo.port}`)
    assert.equal(answer.body, 'ok|ok|ok|Too many subrequests.|Too many subrequests.')
    await until(() => echo.conns.length >= 3 && echo.conns.every((c) => c.closed), 5000)
    assert.equal(echo.conns.length, 3, 'the refused ones never connected')
  })

  it('survives kill -9 of a runtime with 50 requests in flight', async () => {
    await bothReady()
    const victim = runtimePids(served.pid)[0] ?? 0
    const inFlight = Array.from({ length: 50 }, () =>
      request(`${served.url}/sleep?ms=1500`, { timeoutMs: 20_000 })
    )
    await new Promise((r) => setTimeout(r, 500))
    process.kill(victim, 'SIGKILL')
    const answers = await Promise.all(inFlight)
    // Each one is the right answer or an error the client saw: never a wrong body.
    for (const a of answers) {
      if (a.status !== 0) assert.equal(a.body, 'slept v1', JSON.stringify(a))
    }
    assert.ok(
      answers.some((a) => a.status === 200),
      'the other runtime answered its share'
    )
    await served.waitFor(/stopped: crash: exited \(SIGKILL\)/)
    const after = await Promise.all(
      Array.from({ length: 50 }, () => request(`${served.url}/sleep?ms=5`))
    )
    assert.deepEqual(
      after.filter((a) => a.status !== 200),
      [],
      'every later request succeeded'
    )
  })
})
