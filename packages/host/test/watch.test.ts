// The dev watcher reloads for what the Worker is made of (the bundle's inputs, the config, its
// secrets files, its assets) and for nothing else: node_modules it does not import, .git, the
// embedded database's directory and log files never reload it.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { get, startWharf, type Wharf } from './helpers.js'

function write(root: string, name: string, text: string): void {
  mkdirSync(dirname(join(root, name)), { recursive: true })
  writeFileSync(join(root, name), text)
}

describe('wharf dev: what reloads the Worker', () => {
  let dir: string
  let wharf: Wharf
  const reloads = (): number => wharf.output().split('⎔ Reloading local server...').length - 1
  const updated = (): number => wharf.output().split('⎔ Local server updated and ready').length - 1
  /** Waits for the n-th "updated" line (bounded), then returns the reply. */
  const afterReload = async (n: number): Promise<string> => {
    await wharf.waitFor(new RegExp(`(⎔ Local server updated and ready[^]*){${n}}`), 15_000)
    return (await get(wharf.url)).body
  }
  /** Nothing reloads within `ms` (a debounce is 50 ms; a reload logs at once). */
  const quiet = async (ms: number): Promise<void> => {
    const seen = reloads()
    await new Promise((r) => setTimeout(r, ms))
    assert.equal(reloads(), seen, wharf.output().slice(-2000))
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-watch-'))
    write(dir, 'wrangler.json', '{ "main": "src/worker.js", "assets": { "directory": "public" } }')
    write(
      dir,
      'src/worker.js',
      "import { message } from './dep.js'\nimport { tag } from 'used-pkg'\n" +
        'export default { fetch: (req, env) => new Response(message + tag + (env.SECRET ?? "")) }\n'
    )
    write(dir, 'src/dep.js', "export const message = 'v1'\n")
    write(dir, 'node_modules/used-pkg/package.json', '{ "name": "used-pkg", "main": "index.js" }')
    write(dir, 'node_modules/used-pkg/index.js', "export const tag = '+pkg'\n")
    write(dir, 'node_modules/other-pkg/index.js', 'export {}\n')
    write(dir, 'public/robots.txt', 'User-agent: *\n')
    wharf = await startWharf(dir)
    assert.equal((await get(wharf.url)).body, 'v1+pkg')
  })
  after(async () => {
    await wharf.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('does not reload for files the Worker is not made of', async () => {
    write(dir, 'server.log', 'a line\n')
    write(dir, 'src/notes.md', '# not imported\n')
    write(dir, 'src/unused.js', 'export const nobody = 1\n')
    write(dir, 'node_modules/other-pkg/index.js', 'export const changed = 1\n')
    write(dir, '.git/index', 'x')
    write(dir, '.wharf/hyperdrive/DB/pg_wal/000001', 'wal')
    write(dir, '.wrangler/state/x', 'x')
    await quiet(1500)
  })

  it('reloads for an imported module, within a bounded time', async () => {
    const n = updated()
    write(dir, 'src/dep.js', "export const message = 'v2'\n")
    assert.equal(await afterReload(n + 1), 'v2+pkg')
  })

  it('reloads for a file of an imported package (a bundle input, even in node_modules)', async () => {
    const n = updated()
    write(dir, 'node_modules/used-pkg/index.js', "export const tag = '+pkg2'\n")
    assert.equal(await afterReload(n + 1), 'v2+pkg2')
  })

  it('reloads for .dev.vars, the config and the assets directory', async () => {
    let n = updated()
    write(dir, '.dev.vars', 'SECRET=+secret\n')
    assert.equal(await afterReload(n + 1), 'v2+pkg2+secret')
    n = updated()
    write(
      dir,
      'wrangler.json',
      '{ "main": "src/worker.js", "assets": { "directory": "public" }, "vars": { "X": "1" } }'
    )
    await afterReload(n + 1)
    n = updated()
    write(dir, 'public/new.txt', 'new\n')
    await afterReload(n + 1)
    assert.equal((await get(`${wharf.url}/new.txt`)).body, 'new\n')
  })

  it('after a broken import, creating the missing module reloads', async () => {
    write(dir, 'src/dep.js', "export { message } from './later.js'\n")
    await wharf.waitFor(/reload failed, still serving the previous version/, 15_000)
    const n = updated()
    write(dir, 'src/later.js', "export const message = 'v3'\n")
    assert.equal(await afterReload(n + 1), 'v3+pkg2+secret')
    // and once it builds again, unrelated files are quiet again
    await new Promise((r) => setTimeout(r, 300))
    write(dir, 'src/another-unused.js', 'export {}\n')
    await quiet(1500)
  })

  it('a source directory deleted and written again (a build emptying its output) still reloads', async () => {
    const failed = (): number => wharf.output().split('reload failed').length - 1
    const failures = failed()
    // The host reads the deletion's events only after it ended, as on a busy machine.
    process.kill(wharf.pid, 'SIGSTOP')
    try {
      rmSync(join(dir, 'src'), { recursive: true, force: true })
    } finally {
      process.kill(wharf.pid, 'SIGCONT')
    }
    // The deletion itself reloads, and fails (main is gone); the old version keeps serving.
    await wharf.waitFor(new RegExp(`(reload failed[^]*){${failures + 1}}`), 15_000)
    await new Promise((r) => setTimeout(r, 300))
    const n = updated()
    write(
      dir,
      'src/worker.js',
      "import { message } from './dep.js'\nexport default { fetch: () => new Response(message) }\n"
    )
    write(dir, 'src/dep.js', "export const message = 'rebuilt'\n")
    // The directory's watch died with it; it is found again within a second and reloads.
    await wharf.waitFor(new RegExp(`(⎔ Local server updated and ready[^]*){${n + 1}}`), 15_000)
    const deadline = Date.now() + 10_000
    let body = ''
    while (Date.now() < deadline && (body = (await get(wharf.url)).body) !== 'rebuilt') {
      await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(body, 'rebuilt')
  })
})
