// A project with Durable Objects, KV, R2, D1 or AI bindings starts under `wharf dev` and
// `wharf serve`; each such binding is named at start, and using it throws
// ERR_WHARF_UNSUPPORTED_BINDING naming the binding and its config field. Before, env.NAME was
// undefined and the Worker failed with `Cannot read properties of undefined (reading
// 'idFromName')` (cloudflare/templates hello-world-do-template), and serve said nothing at start.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, startWharf, type Wharf } from './helpers.js'
import { startServed, type Served } from './serve-helpers.js'

const FIXTURE = join(FIXTURES, 'unsupported-bindings')

const USES: [path: string, binding: string, member: string, kind: string, field: string][] = [
  ['/do', 'COUNTER', 'idFromName', 'a Durable Object namespace', 'durable_objects'],
  ['/kv', 'CACHE', 'get', 'a KV namespace', 'kv_namespaces'],
  ['/r2', 'FILES', 'put', 'an R2 bucket', 'r2_buckets'],
  ['/d1', 'DB', 'prepare', 'a D1 database', 'd1_databases'],
  ['/ai', 'AI', 'run', 'Workers AI', 'ai'],
]

describe('unsupported bindings are named, at start and when used', () => {
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
    const output = (): string => (host === 'dev' ? dev?.output() : served?.output()) ?? ''

    it(`${host}: one start-up line per binding, none generic for their fields`, () => {
      const out = output()
      for (const [, binding, , kind, field] of USES) {
        assert.match(
          out,
          new RegExp(
            `\\[wharf:warn\\] env\\.${binding} \\(${field}\\) is ${kind}, which wharf does not provide: using it throws ERR_WHARF_UNSUPPORTED_BINDING`
          )
        )
        assert.doesNotMatch(out, new RegExp(`config field "${field}"`))
      }
      // The other fields without effect are still said, by serve too.
      assert.match(
        out,
        new RegExp(`config field "migrations" is read but has no effect in wharf ${host}`)
      )
      // limits.cpu_ms is serve's own limit: only dev calls it without effect.
      const cpu = /config field "limits\.cpu_ms" is read but has no effect/
      if (host === 'dev') assert.match(out, cpu)
      else assert.doesNotMatch(out, cpu)
    })

    for (const [path, binding, member, kind, field] of USES) {
      it(`${host}: env.${binding}.${member} throws ERR_WHARF_UNSUPPORTED_BINDING`, async () => {
        const reply = await get(`${url()}${path}`)
        assert.equal(reply.status, 200, reply.body)
        assert.deepEqual(JSON.parse(reply.body), {
          name: 'Error',
          code: 'ERR_WHARF_UNSUPPORTED_BINDING',
          message: `env.${binding}.${member}: env.${binding} is ${kind} (${field} in the config), which wharf does not provide`,
        })
      })
    }

    it(`${host}: env can still be listed and serialised`, async () => {
      const reply = await get(`${url()}/env`)
      assert.equal(reply.status, 200, reply.body)
      const seen = JSON.parse(reply.body) as { types: string; json: string; greeting: string }
      assert.equal(seen.types, 'object')
      assert.equal(seen.greeting, 'hello')
      assert.equal((JSON.parse(seen.json) as { GREETING: string }).GREETING, 'hello')
    })
  }
})
