// 200 concurrent requests, each opening two sockets (one closed by the Worker, one leaked and
// closed by the host): every request succeeds and the host's open file descriptors return to
// where they were (counted in /proc/<pid>/fd).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  ALLOW_TEST_SERVERS,
  FIXTURES,
  childPids,
  echoServer,
  get,
  openFds,
  startWharf,
  until,
  type TestServer,
  type Wharf,
} from './helpers.js'

describe('wharf dev: 200 concurrent requests with sockets', () => {
  let wharf: Wharf
  let server: TestServer

  before(async () => {
    server = await echoServer()
    wharf = await startWharf(join(FIXTURES, 'scope'), ['--allow', ALLOW_TEST_SERVERS, '--no-watch'])
  })
  after(async () => {
    await wharf.stop()
    await server.close()
  })

  it('answers all of them and leaks no file descriptor', async () => {
    const url = `${wharf.url}/pair?port=${server.port}`
    assert.equal((await get(url)).body, 'ab')
    await until(() => server.conns.every((c) => c.closed), 5000, 'warm-up sockets closed')
    // Both processes: the supervisor (listening socket) and the Worker's runtime (sockets).
    const runtimes = childPids(wharf.pid)
    assert.equal(runtimes.length, 1, 'one runtime process')
    const fds = (): number => openFds(wharf.pid) + runtimes.reduce((n, pid) => n + openFds(pid), 0)
    const fdsBefore = fds()
    const replies = await Promise.all(Array.from({ length: 200 }, () => get(url, 30_000)))
    assert.deepEqual(
      replies.filter((r) => r.status !== 200 || r.body !== 'ab'),
      [],
      'every request succeeded'
    )
    assert.equal(server.conns.length, 2 + 400)
    await until(() => server.conns.every((c) => c.closed), 10_000, 'every socket closed')
    let fdsAfter = fds()
    await until(
      () => (fdsAfter = fds()) <= fdsBefore + 2,
      10_000,
      `fds back near ${fdsBefore}`
    ).catch(() => undefined)
    assert.ok(fdsAfter <= fdsBefore + 2, `fds before ${fdsBefore}, after ${fdsAfter}`)
    assert.ok(server.maxConcurrent() > 2, 'the requests really ran concurrently')
  })
})
