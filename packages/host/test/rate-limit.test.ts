// wrangler's ratelimits bindings (and unsafe.bindings of type ratelimit), counted as wrangler dev
// counts them: fixed windows per key, a namespace shared by its bindings, miniflare's messages.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { get, runWharf, startWharf, tempProject, type Wharf } from './helpers.js'

const WORKER = `export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    if (url.pathname === '/bad') {
      const out = []
      for (const options of [null, { key: 'a', colour: 'red' }, { key: 1 }, { key: 'a', period: 30 }]) {
        try { await env.LIMITER.limit(options); out.push('accepted') } catch (error) { out.push(error.message) }
      }
      return Response.json(out)
    }
    const binding = url.searchParams.get('binding') ?? 'LIMITER'
    const { success } = await env[binding].limit({ key: url.searchParams.get('key') ?? '' })
    return new Response(success ? 'ok' : 'limited', { status: success ? 200 : 429 })
  },
}
`

describe('ratelimits bindings', () => {
  let project: { dir: string; remove: () => void }
  let wharf: Wharf
  before(async () => {
    project = tempProject({
      'worker.js': WORKER,
      'wrangler.json': JSON.stringify({
        main: 'worker.js',
        compatibility_date: '2025-06-01',
        ratelimits: [
          { name: 'LIMITER', namespace_id: '1001', simple: { limit: 2, period: 60 } },
          { name: 'SAME_NAMESPACE', namespace_id: '1001', simple: { limit: 2, period: 60 } },
        ],
        unsafe: {
          bindings: [
            {
              name: 'OLD_STYLE',
              type: 'ratelimit',
              namespace_id: '2002',
              simple: { limit: 1, period: 10 },
            },
          ],
        },
      }),
    })
    wharf = await startWharf(project.dir, ['--no-watch'])
  })
  after(async () => {
    await wharf?.stop()
    project?.remove()
  })

  const hit = async (query: string): Promise<string> => (await get(`${wharf.url}/?${query}`)).body

  it('lets `limit` calls through per key and window, then refuses', async () => {
    // A window is aligned to the wall clock; wait out one that is about to end.
    if (Date.now() % 60_000 > 55_000)
      await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000)))
    assert.deepEqual(
      [await hit('key=a'), await hit('key=a'), await hit('key=a'), await hit('key=b')],
      ['ok', 'ok', 'limited', 'ok']
    )
    // The same namespace counts the same keys, whichever binding asks.
    assert.equal(await hit('key=a&binding=SAME_NAMESPACE'), 'limited')
    assert.equal(await hit('key=b&binding=SAME_NAMESPACE'), 'ok')
  })

  it('reads unsafe.bindings of type ratelimit, and lists both kinds at start', async () => {
    if (Date.now() % 10_000 > 8_000)
      await new Promise((r) => setTimeout(r, 10_000 - (Date.now() % 10_000)))
    assert.deepEqual(
      [await hit('key=z&binding=OLD_STYLE'), await hit('key=z&binding=OLD_STYLE')],
      ['ok', 'limited']
    )
    assert.match(wharf.output(), /env\.LIMITER \(2 per 60 s\)\s+Rate Limit\s+local/)
    assert.match(wharf.output(), /env\.OLD_STYLE \(1 per 10 s\)\s+Rate Limit\s+local/)
    assert.doesNotMatch(wharf.output(), /"unsafe" is read but has no effect/)
  })

  it('checks the options as wrangler dev does, with its messages', async () => {
    assert.deepEqual(JSON.parse((await get(`${wharf.url}/bad`)).body), [
      'invalid rate limit options',
      'bad rate limit options: [colour]',
      'invalid key: 1',
      'unsupported period: 30',
    ])
  })
})

describe('ratelimits config errors', () => {
  it('a period other than 10 or 60 is ERR_WHARF_CONFIG naming the field', async () => {
    const project = tempProject({
      'worker.js': WORKER,
      'wrangler.json': JSON.stringify({
        main: 'worker.js',
        ratelimits: [{ name: 'LIMITER', namespace_id: '1', simple: { limit: 5, period: 30 } }],
      }),
    })
    try {
      const run = await runWharf(['dev', project.dir, '--port', '0'])
      assert.equal(run.code, 1)
      assert.match(
        run.stderr,
        /ERR_WHARF_CONFIG: .*"ratelimits\[0\]\.simple\.period" must be 10 or 60/
      )
    } finally {
      project.remove()
    }
  })
})
