// request.cf (workerd's semantics for made, given, copied and cloned requests, compared with
// workerd; wrangler dev's offline object on incoming ones) and the version_metadata binding.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, type Wharf } from './helpers.js'
import { startServed, type Served } from './serve-helpers.js'
import { startSideBySide, type RunningWorkerd } from './workerd-helpers.js'

const DIR = join(FIXTURES, 'request-cf')

async function json(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
  assert.equal(res.status, 200)
  return res.json()
}

describe('request.cf and version_metadata', () => {
  let workerd: RunningWorkerd
  let wharf: Wharf
  let stop: (() => Promise<void>) | undefined
  before(async () => {
    ;({ workerd, wharf, stop } = await startSideBySide(DIR, {
      modules: [{ name: 'worker.js', type: 'esModule', file: join(DIR, 'worker.js') }],
      compatibilityDate: '2025-06-01',
    }))
  })
  after(async () => {
    await stop?.()
  })

  it('made, given, copied and cloned requests carry cf as in workerd', async () => {
    const [expected, actual] = await Promise.all([
      json(`${workerd.origin}/`),
      json(`${wharf.url}/`),
    ])
    assert.deepEqual(actual, expected)
    assert.equal((actual as { incoming: string }).incoming, 'object')
  })

  it('an incoming request has wrangler dev’s offline cf, with its own accept-encoding', async () => {
    const body = (await json(`${wharf.url}/incoming`, { 'accept-encoding': 'br, gzip' })) as {
      version: { id: string; tag: string; timestamp: string }
    } & Record<string, unknown>
    assert.deepEqual(
      { ...body, version: undefined },
      {
        country: 'US',
        colo: 'DFW',
        httpProtocol: 'HTTP/1.1',
        clientAcceptEncoding: 'br, gzip',
        same: true,
        version: undefined,
      }
    )
    assert.match(
      body.version.id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    )
    assert.equal(body.version.tag, '')
    assert.ok(Math.abs(Date.parse(body.version.timestamp) - Date.now()) < 120_000)
  })
})

describe('version_metadata under wharf serve', () => {
  let served: Served
  before(async () => {
    served = await startServed(DIR, ['--processes', '2'])
  })
  after(async () => {
    await served?.stop()
  })

  it('every runtime process of a version gives the same id', async () => {
    const ids = new Set<string>()
    for (let i = 0; i < 8; i++) {
      // A fresh connection each time, so that both runtime processes answer.
      const reply = await get(`${served.url}/incoming`)
      const body = JSON.parse(reply.body) as { version: { id: string } }
      ids.add(body.version.id)
    }
    assert.equal(ids.size, 1, [...ids].join(', '))
  })
})
