// node:module under nodejs_compat against workerd itself: the same Worker file in both, the
// same answer (exports, builtinModules, isBuiltin, createRequire and its errors, the stubs).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, type Wharf } from './helpers.js'
import { startSideBySide, type RunningWorkerd } from './workerd-helpers.js'

const DIR = join(FIXTURES, 'node-module')
const CONFIG = JSON.parse(readFileSync(join(DIR, 'wrangler.json'), 'utf8')) as {
  compatibility_date: string
  compatibility_flags: string[]
}

describe('node:module, against workerd', () => {
  let workerd: RunningWorkerd
  let wharf: Wharf
  let stop: (() => Promise<void>) | undefined
  before(async () => {
    ;({ workerd, wharf, stop } = await startSideBySide(DIR, {
      modules: [{ name: 'worker.js', type: 'esModule', file: join(DIR, 'worker.js') }],
      compatibilityDate: CONFIG.compatibility_date,
      compatibilityFlags: CONFIG.compatibility_flags,
    }))
  })
  after(async () => {
    await stop?.()
  })

  it('answers as workerd does', async () => {
    const [expected, actual] = await Promise.all([get(`${workerd.origin}/`), get(`${wharf.url}/`)])
    assert.equal(expected.status, 200, expected.body)
    const ours = JSON.parse(actual.body) as Record<string, unknown>
    const theirs = JSON.parse(expected.body) as Record<string, unknown>
    for (const key of Object.keys(theirs)) assert.deepEqual(ours[key], theirs[key], key)
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort())
  })

  it('loads built-ins through createRequire and refuses the rest', async () => {
    const body = JSON.parse((await get(`${wharf.url}/`)).body) as {
      required: { buffer: boolean; missing: string }
    }
    assert.equal(body.required.buffer, true)
    assert.match(body.required.missing, /No such module "bundle\/missing\.js"\./)
  })
})
