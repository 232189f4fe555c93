// A no_bundle Worker (wrangler's `no_bundle: true`): every module keeps its path and loads as its
// module rule says (CommonJS by a glob, Text, Data, CompiledWasm, .mjs and .cjs side by side with
// a .js of the same name, a computed import()). The same files run in workerd, declared with
// the types wrangler would give them, and both must answer alike.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, type Wharf } from './helpers.js'
import { startServed, type Served } from './serve-helpers.js'
import { startSideBySide, type RunningWorkerd, type WorkerdModule } from './workerd-helpers.js'

const DIR = join(FIXTURES, 'no-bundle-modules')

/** The modules as wrangler uploads them for this config's rules. */
const MODULES: [string, WorkerdModule['type']][] = [
  ['index.js', 'esModule'],
  ['shout.js', 'esModule'],
  ['twice.mjs', 'esModule'],
  ['late.js', 'esModule'],
  ['shout.cjs', 'commonJsModule'],
  ['counter.cjs', 'commonJsModule'],
  ['lib/legacy.js', 'commonJsModule'],
  ['note.txt', 'text'],
  ['strings/sv.json', 'text'],
  ['strings/es.json', 'text'],
  ['blob.bin', 'data'],
  ['answer.wasm', 'wasm'],
]

const PATHS = ['/', '/strings/sv.json', '/strings/es.json']

describe('no_bundle: modules by their paths and rules, against workerd', () => {
  let workerd: RunningWorkerd
  let wharf: Wharf
  let stop: (() => Promise<void>) | undefined
  before(async () => {
    ;({ workerd, wharf, stop } = await startSideBySide(DIR, {
      modules: MODULES.map(([name, type]) => ({ name, type, file: join(DIR, 'src', name) })),
      compatibilityDate: '2025-06-01',
    }))
  })
  after(async () => {
    await stop?.()
  })

  for (const path of PATHS) {
    it(`GET ${path} answers as on workerd`, async () => {
      const [expected, actual] = await Promise.all([
        get(`${workerd.origin}${path}`),
        get(`${wharf.url}${path}`),
      ])
      assert.equal(expected.status, 200, expected.body)
      assert.deepEqual(
        { status: actual.status, body: JSON.parse(actual.body) as unknown },
        { status: expected.status, body: JSON.parse(expected.body) as unknown }
      )
    })
  }

  it('gives every kind of module its value (not just the same as workerd)', async () => {
    const body = JSON.parse((await get(`${wharf.url}/`)).body) as Record<string, unknown>
    assert.deepEqual(body, {
      esm: 'esm...',
      cjs: 'CJS!',
      cjsRequire: 3,
      ruleCommonJs: 'commonjs',
      text: 'a note\n',
      data: [true, 0, 1, 254, 255],
      wasm: [true, 42],
      mjs: 42,
      dynamic: 'loaded later',
    })
  })
})

describe('no_bundle under wharf serve', () => {
  let served: Served
  before(async () => {
    served = await startServed(DIR, ['--processes', '1'])
  })
  after(async () => {
    await served?.stop()
  })

  it('loads the same modules', async () => {
    const root = JSON.parse((await get(`${served.url}/`)).body) as Record<string, unknown>
    assert.equal(root.cjs, 'CJS!')
    assert.equal(root.ruleCommonJs, 'commonjs')
    assert.deepEqual(root.wasm, [true, 42])
    const text = JSON.parse((await get(`${served.url}/strings/es.json`)).body) as unknown
    assert.deepEqual(text, { type: 'string', hello: 'hola' })
  })
})
