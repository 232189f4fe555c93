// 10,000 requests through wharf serve (2 runtime processes), each with a socket round trip and
// every tenth leaking its socket, over keep-alive connections from 50 clients: every answer is
// right and the open file descriptors of the whole process tree come back to where they were.
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ALLOW_TEST_SERVERS, FIXTURES, echoServer, until, type TestServer } from './helpers.js'
import { request, startServed, treeFds, type Served } from './serve-helpers.js'

describe('wharf serve: 10,000 requests', () => {
  let served: Served
  let echo: TestServer

  before(async () => {
    echo = await echoServer()
    served = await startServed(join(FIXTURES, 'serve'), [
      '--processes',
      '2',
      '--allow',
      ALLOW_TEST_SERVERS,
      '--log-format',
      'json',
    ])
  })
  after(async () => {
    await served.stop()
    await echo.close()
  })

  // On Node 24 this once failed: the memory watchdog measured resident memory, which grew past
  // the limit over these requests, and recycled a healthy runtime (1102 answers). It now counts
  // the Worker's heap and buffers after a full GC; this runs on Node 20, 22 and 24.
  it('answers every one and grows no file descriptor across the process tree', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 })
    const warm = await Promise.all(
      Array.from({ length: 100 }, () => request(`${served.url}/echo?port=${echo.port}`, { agent }))
    )
    assert.ok(warm.every((a) => a.body === 'ping'))
    agent.destroy()
    await until(() => echo.conns.every((c) => c.closed), 5000)
    const fdsBefore = treeFds(served.pid)

    const load = new http.Agent({ keepAlive: true, maxSockets: 50 })
    let next = 0
    const wrong: string[] = []
    const client = async (): Promise<void> => {
      while (next < 10_000) {
        const i = next++
        const path = i % 10 === 0 ? `/leak?port=${echo.port}` : `/echo?port=${echo.port}`
        const a = await request(`${served.url}${path}`, { agent: load, timeoutMs: 30_000 })
        const want = i % 10 === 0 ? 'leaked' : 'ping'
        if (a.status !== 200 || a.body !== want)
          wrong.push(`${i}: ${a.status} ${a.body} ${a.error ?? ''}`)
      }
    }
    await Promise.all(Array.from({ length: 50 }, client))
    load.destroy()
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} wrong answers`)
    await until(() => echo.conns.every((c) => c.closed), 15_000, 'every socket closed')
    let fdsAfter = 0
    await until(() => (fdsAfter = treeFds(served.pid)) <= fdsBefore + 4, 15_000).catch(
      () => undefined
    )
    assert.ok(fdsAfter <= fdsBefore + 4, `fds before ${fdsBefore}, after ${fdsAfter}`)
  })
})
