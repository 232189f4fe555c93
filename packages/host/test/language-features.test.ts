// The JavaScript built-ins a Worker written for workerd uses (Promise.withResolvers, Set methods,
// iterator helpers, base64 on Uint8Array, …) and the node:test, node:console and node:_stream_*
// modules, under wharf and under workerd itself: the answers must be equal, on every Node this
// runs on (Node 20 lacks most of them, and language-features.ts gives them from core-js).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, tempProject } from './helpers.js'
import { startSideBySide, type SideBySide } from './workerd-helpers.js'

const WORKER = join(FIXTURES, 'language-features', 'worker.js')
const DATE = '2026-11-01'

describe('wharf dev: the built-ins of workerd’s JavaScript', () => {
  let both: SideBySide
  const project = tempProject({
    'worker.js': readFileSync(WORKER, 'utf8'),
    'wrangler.json': JSON.stringify({
      main: 'worker.js',
      compatibility_date: DATE,
      compatibility_flags: ['nodejs_compat'],
    }),
  })
  before(async () => {
    both = await startSideBySide(project.dir, {
      modules: [{ name: 'worker.js', type: 'esModule', file: WORKER }],
      compatibilityDate: DATE,
      compatibilityFlags: ['nodejs_compat'],
    })
  })
  after(async () => {
    await both?.stop()
    project.remove()
  })

  it('answers as workerd does', async () => {
    const [oracle, ours] = await Promise.all([
      get(`${both.workerd.origin}/`),
      get(`${both.wharf.url}/`),
    ])
    const expected = JSON.parse(oracle.body) as Record<string, string>
    // workerd really has them all: a key that errors there would make the comparison hollow.
    for (const [key, value] of Object.entries(expected)) {
      if (key === 'setMethodBadArgument') assert.equal(value, '"TypeError"')
      else assert.doesNotMatch(value, /Error:/, `workerd: ${key}`)
    }
    assert.deepEqual(JSON.parse(ours.body), expected)
  })
})
