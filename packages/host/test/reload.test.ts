// Hot reload: a changed module or dependency is served after the reload message; a broken edit
// keeps the previous version serving and logs why.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, startWharf, tempProject, type Wharf } from './helpers.js'

describe('wharf dev: hot reload', () => {
  let wharf: Wharf
  let project: { dir: string; remove: () => void }

  before(async () => {
    project = tempProject({
      'package.json': '{ "type": "module" }',
      'wrangler.json': '{ "main": "worker.js" }',
      'worker.js':
        "import { message } from './dep.js'\nexport default { fetch: () => new Response(message) }\n",
      'dep.js': "export const message = 'v1'\n",
    })
    wharf = await startWharf(project.dir)
  })
  after(async () => {
    await wharf.stop()
    project.remove()
  })

  const reloads = (): number => wharf.output().split('⎔ Local server updated and ready').length - 1

  it('reloads a changed dependency (a fresh module graph, not a cached one)', async () => {
    assert.equal((await get(wharf.url)).body, 'v1')
    const before = reloads()
    writeFileSync(join(project.dir, 'dep.js'), "export const message = 'v2'\n")
    await wharf.waitFor(new RegExp(`(⎔ Local server updated and ready[^]*){${before + 1}}`), 10_000)
    assert.equal((await get(wharf.url)).body, 'v2')
  })

  it('debounces a burst of changes into one reload', async () => {
    const before = reloads()
    for (const v of ['v3', 'v4', 'v5'])
      writeFileSync(join(project.dir, 'dep.js'), `export const message = '${v}'\n`)
    await wharf.waitFor(new RegExp(`(⎔ Local server updated and ready[^]*){${before + 1}}`), 10_000)
    await new Promise((r) => setTimeout(r, 400))
    assert.equal(reloads(), before + 1)
    assert.equal((await get(wharf.url)).body, 'v5')
  })

  it('keeps serving the previous version when an edit does not load', async () => {
    writeFileSync(join(project.dir, 'worker.js'), 'export default { fetch( }\n')
    await wharf.waitFor(/reload failed, still serving the previous version/, 10_000)
    assert.equal((await get(wharf.url)).body, 'v5')
    const before = reloads()
    writeFileSync(
      join(project.dir, 'worker.js'),
      "export default { fetch: () => new Response('fixed') }\n"
    )
    await wharf.waitFor(new RegExp(`(⎔ Local server updated and ready[^]*){${before + 1}}`), 10_000)
    assert.equal((await get(wharf.url)).body, 'fixed')
  })
})
