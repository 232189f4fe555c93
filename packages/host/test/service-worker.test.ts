// A Worker in the service-worker syntax (addEventListener('fetch'), bindings as globals), run by
// wharf and by workerd (as a serviceWorkerScript): each request must get the same answer; where
// both fail (a listener throws, no respondWith()), both answer 500.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, type Wharf } from './helpers.js'
import { startServed, type Served } from './serve-helpers.js'
import { startSideBySide, type RunningWorkerd } from './workerd-helpers.js'

const DIR = join(FIXTURES, 'service-worker')

const SAME_ANSWER = ['/', '/twice', '/async', '/wait-until']
const BOTH_FAIL = ['/throw', '/late', '/not-a-response', '/no-respond-with']

describe('the service-worker syntax, against workerd', () => {
  let workerd: RunningWorkerd
  let wharf: Wharf
  let stop: (() => Promise<void>) | undefined
  before(async () => {
    ;({ workerd, wharf, stop } = await startSideBySide(DIR, {
      serviceWorker: { file: join(DIR, 'worker.js') },
      bindings: { GREETING: 'hello from a binding' },
      modules: [],
      compatibilityDate: '2025-06-01',
    }))
  })
  after(async () => {
    await stop?.()
  })

  for (const path of SAME_ANSWER) {
    it(`GET ${path} answers as on workerd`, async () => {
      const [expected, actual] = await Promise.all([
        get(`${workerd.origin}${path}`),
        get(`${wharf.url}${path}`),
      ])
      assert.deepEqual(actual, expected)
    })
  }

  for (const path of BOTH_FAIL) {
    it(`GET ${path} fails with a 500 as on workerd`, async () => {
      const [expected, actual] = await Promise.all([
        get(`${workerd.origin}${path}`),
        get(`${wharf.url}${path}`),
      ])
      assert.equal(expected.status, 500)
      assert.equal(actual.status, 500, actual.body)
    })
  }

  it('the answers themselves (not only that they match)', async () => {
    const root = JSON.parse((await get(`${wharf.url}/`)).body) as Record<string, unknown>
    assert.equal(root.greeting, 'hello from a binding')
    assert.equal(root.isFetchEvent, true)
    assert.equal((await get(`${wharf.url}/async`)).status, 201)
    assert.equal((await get(`${wharf.url}/waited`)).body, 'after: done')
  })

  it('says why a request without respondWith() failed, and logs the second respondWith()', async () => {
    await get(`${wharf.url}/no-respond-with`)
    await get(`${wharf.url}/twice`)
    await wharf.waitFor(/No fetch listener called event\.respondWith\(\)/)
    await wharf.waitFor(/InvalidStateError: FetchEvent\.respondWith\(\) has already been called/)
  })
})

describe('the service-worker syntax under wharf serve', () => {
  let served: Served
  before(async () => {
    served = await startServed(DIR, ['--processes', '1'])
  })
  after(async () => {
    await served?.stop()
  })

  it('serves it the same way', async () => {
    const root = JSON.parse((await get(`${served.url}/`)).body) as Record<string, unknown>
    assert.equal(root.greeting, 'hello from a binding')
    assert.equal((await get(`${served.url}/throw`)).status, 500)
  })
})
