// The same project answers the same under `wharf dev` and `wharf serve`: serve used to give its
// primary Worker only vars and bindings, so static assets were not served (GET / reached the
// Worker, env.ASSETS was undefined), and with no compatibility date the Worker saw an empty
// process.env and no node:fs. Real projects (cloudflare/templates postgres-hyperdrive-template)
// served their JSON fallback instead of index.html under serve.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, startWharf, type Wharf } from './helpers.js'
import { request, startServed, type Served } from './serve-helpers.js'

const FIXTURE = join(FIXTURES, 'serve-parity')

const EXPECTED_SEEN = {
  processEnv: { GREETING: 'hello', TOKEN: 'from-dev-vars' },
  env: { GREETING: 'hello', TOKEN: 'from-dev-vars' },
  note: { status: 200, text: 'asset text\n' },
  fs: 'function',
}

describe('wharf dev and wharf serve give a Worker the same view of its config', () => {
  let dev: Wharf | undefined
  let served: Served | undefined
  before(async () => {
    ;[dev, served] = await Promise.all([
      startWharf(FIXTURE, ['--no-watch']),
      startServed(FIXTURE, ['--processes', '1']),
    ])
  })
  after(async () => {
    await Promise.all([dev?.stop(), served?.stop()])
  })

  for (const host of ['dev', 'serve'] as const) {
    const url = (): string => (host === 'dev' ? dev?.url : served?.url) ?? ''

    it(`${host}: static assets answer before the Worker`, async () => {
      const page = await request(`${url()}/`)
      assert.equal(page.status, 200, page.body)
      assert.match(page.body, /served from assets/)
      const missing = await request(`${url()}/nothing-here`)
      assert.equal(missing.status, 404)
      assert.equal(missing.body, 'the Worker')
    })

    it(`${host}: process.env, env, env.ASSETS and node:fs`, async () => {
      const seen = await get(`${url()}/api/seen`)
      assert.equal(seen.status, 200, seen.body)
      assert.deepEqual(JSON.parse(seen.body), EXPECTED_SEEN)
    })
  }
})
