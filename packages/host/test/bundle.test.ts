// Loading like wrangler: the Worker is bundled with esbuild (no "type" needed, extensionless and
// directory imports, tsconfig paths, JSX, rules, define, alias), stack traces name the user's
// files, Node built-ins follow nodejs_compat, and a broken edit keeps the last good version.
import assert from 'node:assert/strict'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, runWharf, startWharf, tempProject, type Wharf } from './helpers.js'

describe('wharf dev: the Worker is bundled as wrangler bundles it', () => {
  let wharf: Wharf
  before(async () => {
    wharf = await startWharf(join(FIXTURES, 'bundle'), ['--no-watch'])
  })
  after(async () => {
    await wharf.stop()
  })

  it('builds a TypeScript main without "type": imports, paths, JSX, rules, define, alias', async () => {
    const reply = await get(wharf.url)
    assert.equal(reply.status, 200, reply.body)
    assert.deepEqual(JSON.parse(reply.body), {
      books: ['Dune', 'Emma'],
      lib: 'directory import',
      shout: 'HI!',
      page: '<p>jsx</p>',
      greeting: 'aliased',
      hello: 'hello text\n',
      notes: '# notes\n',
      dataBytes: 5,
      label: 'from-define',
    })
  })

  it('stack traces point at the user file and line, in the error page and the log', async () => {
    const reply = await get(`${wharf.url}/throw`)
    assert.equal(reply.status, 500)
    const where = /fixtures\/bundle\/src\/index\.ts:31:\d+/
    assert.match(reply.body, where)
    await wharf.waitFor(where)
  })
})

describe('wharf dev: Node built-ins follow nodejs_compat', () => {
  it('require() of built-ins works in a CommonJS main under nodejs_compat', async () => {
    const wharf = await startWharf(join(FIXTURES, 'nodecompat'), ['--no-watch'])
    try {
      const reply = await get(wharf.url)
      assert.equal(reply.status, 200, reply.body)
      const body = JSON.parse(reply.body) as Record<string, string>
      assert.equal(body.buffer, 'aGk=')
      assert.equal(body.heard, 'event')
      assert.equal(body.decoded, '€')
      // workerd's own stand-in and message (runtime/node/child_process.ts)
      assert.equal(body.spawn, 'The child_process.spawn method is not implemented')
      assert.equal(body.netConnect, 'function')
    } finally {
      await wharf.stop()
    }
  })

  it('before workerd has a built-in, its import is unenv’s stand-in, as in wrangler’s bundle', async () => {
    // child_process and worker_threads arrive in workerd on 2026-03-17, cluster on 2025-12-04.
    const project = tempProject({
      'wrangler.json': JSON.stringify({
        main: 'worker.js',
        compatibility_date: '2025-06-01',
        compatibility_flags: ['nodejs_compat'],
      }),
      'worker.js': `import { spawn } from 'node:child_process'
import cluster from 'cluster'
import required from './uses-require.cjs'
export default {
  async fetch() {
    const out = { cluster: cluster.isPrimary, required }
    try { spawn('ls') } catch (error) { out.spawn = error.message }
    try { await import(\`node:\${'worker_threads'}\`) } catch (error) { out.computed = error.message }
    return Response.json(out)
  },
}
`,
      'uses-require.cjs':
        "const cp = require('node:child_process')\nmodule.exports = typeof cp.execFileSync\n",
    })
    const wharf = await startWharf(project.dir, ['--no-watch'])
    try {
      const reply = await get(wharf.url)
      assert.equal(reply.status, 200, reply.body)
      assert.deepEqual(JSON.parse(reply.body), {
        cluster: true,
        required: 'function',
        spawn: '[unenv] child_process.spawn is not implemented yet!',
        // A computed import is not bundled: the runtime answers as workerd does at that date.
        computed: 'No such module "node:worker_threads".',
      })
    } finally {
      await wharf.stop()
      project.remove()
    }
  })

  it('without nodejs_compat a node: import fails the build with file:line and the fix', async () => {
    const { code, stderr } = await runWharf(['dev', join(FIXTURES, 'nocompat'), '--port', '0'])
    assert.equal(code, 1)
    assert.match(stderr, /ERR_WHARF_BUILD/)
    assert.match(stderr, /worker\.js:2:\d+: Could not resolve "node:fs"/)
    assert.match(stderr, /nodejs_compat/)
  })

  it('a broken main reports esbuild’s message, not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-broken-'))
    try {
      writeFileSync(join(dir, 'wrangler.json'), '{ "main": "index.js" }')
      writeFileSync(
        join(dir, 'index.js'),
        'export default {\n  fetch() { return new Response( }\n}\n'
      )
      const { code, stderr } = await runWharf(['dev', dir, '--port', '0'])
      assert.equal(code, 1)
      assert.match(
        stderr,
        /✘ ERROR ERR_WHARF_BUILD: the Worker failed to build:\nindex\.js:2:\d+: /
      )
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('wharf dev: a syntax error mid-session', () => {
  let wharf: Wharf
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-edit-'))
    cpSync(join(FIXTURES, 'bundle'), dir, { recursive: true })
    wharf = await startWharf(dir)
  })
  after(async () => {
    await wharf.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('prints file:line, keeps serving the last good version, then reloads the fix', async () => {
    const books = join(dir, 'src/api/routes/books.ts')
    const good = readFileSync(books, 'utf8')
    writeFileSync(books, "export const books = ['Dune',\n")
    await wharf.waitFor(/reload failed[^]*src\/api\/routes\/books\.ts:2:\d+: /, 10_000)
    assert.deepEqual((JSON.parse((await get(wharf.url)).body) as { books: string[] }).books, [
      'Dune',
      'Emma',
    ])
    const reloads = wharf.output().split('Local server updated and ready').length - 1
    writeFileSync(books, good.replace('Emma', 'Persuasion'))
    await wharf.waitFor(new RegExp(`(Local server updated and ready[^]*){${reloads + 1}}`), 10_000)
    assert.deepEqual((JSON.parse((await get(wharf.url)).body) as { books: string[] }).books, [
      'Dune',
      'Persuasion',
    ])
  })
})

describe('wharf dev: module-rule files from packages, found as wrangler finds them', () => {
  let dir: string
  let wharf: Wharf
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-rule-pkg-'))
    const pkg = join(dir, 'node_modules', '@scope', 'numbers')
    mkdirSync(join(pkg, 'lib'), { recursive: true })
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: '@scope/numbers', exports: { './answer.wasm': './lib/answer.wasm' } })
    )
    cpSync(
      join(FIXTURES, 'no-bundle-modules', 'src', 'answer.wasm'),
      join(pkg, 'lib', 'answer.wasm')
    )
    writeFileSync(join(pkg, 'lib', 'unexported.txt'), 'not in exports\n')
    writeFileSync(
      join(dir, 'wrangler.json'),
      JSON.stringify({ name: 'rule-pkg', main: 'index.js', compatibility_date: '2025-06-01' })
    )
    writeFileSync(
      join(dir, 'index.js'),
      `import answer from '@scope/numbers/answer.wasm'
import text from '@scope/numbers/lib/unexported.txt'
export default {
  async fetch() {
    const instance = await WebAssembly.instantiate(answer)
    return Response.json({ answer: instance.exports.answer(), text })
  },
}
`
    )
    wharf = await startWharf(dir, ['--no-watch'])
  })
  after(async () => {
    await wharf?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a package file by its exports, and one by its path in the package', async () => {
    const reply = await get(wharf.url)
    assert.equal(reply.status, 200, reply.body)
    assert.deepEqual(JSON.parse(reply.body), { answer: 42, text: 'not in exports\n' })
  })
})
