// Shapes of real projects that hung or failed under `wharf dev`, each reproduced by a fixture of
// our own: a build tool's redirected config (@cloudflare/vite-plugin's output, run no_bundle, with
// unenv's process polyfill replacing globalThis.process), and a Worker whose top level never ends.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startDev } from '@wharf/host'
import {
  ALLOW_TEST_SERVERS,
  BIN,
  FIXTURES,
  echoServer,
  get,
  runWharf,
  startWharf,
  type Wharf,
} from './helpers.js'

/** A temporary project with `files` (paths may have directories); removed by `remove()`. */
function tempTree(files: Record<string, string>): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-shapes-'))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A copy of the redirected fixture with the deploy config a build writes (never committed). */
function redirectedProject(configPath = '../../out/app/wrangler.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-redirected-'))
  cpSync(join(FIXTURES, 'redirected'), dir, { recursive: true })
  mkdirSync(join(dir, '.wrangler', 'deploy'), { recursive: true })
  writeFileSync(
    join(dir, '.wrangler', 'deploy', 'config.json'),
    JSON.stringify({ configPath, auxiliaryWorkers: [] })
  )
  return dir
}

describe('wharf dev: a build tool’s redirected config (.wrangler/deploy/config.json)', () => {
  let dir: string
  let wharf: Wharf
  before(async () => {
    dir = redirectedProject()
    wharf = await startWharf(dir, ['--no-watch'], 30_000)
  })
  after(async () => {
    await wharf.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('runs the generated config (no_bundle, its chunks found) even though the Worker replaces globalThis.process', async () => {
    const api = await get(`${wharf.url}/api/books`)
    assert.equal(api.status, 200, api.body)
    assert.deepEqual(JSON.parse(api.body), {
      api: '/api/books',
      replaced: true,
      chunk: 'from a chunk',
    })
  })

  it('serves the assets directory the generated config names, outside its own directory', async () => {
    const page = await get(`${wharf.url}/`)
    assert.equal(page.status, 200, page.body)
    assert.match(page.body, /<title>dashboard<\/title>/)
    // single-page-application: a navigation to an unknown path gets index.html
    const deep = await get(`${wharf.url}/books/1`)
    assert.match(deep.body, /<title>dashboard<\/title>/)
  })

  it('says which config is in force, and no line for the fields wrangler generated', () => {
    const out = wharf.output()
    assert.match(out, /Using redirected Wrangler configuration/)
    assert.match(out, /Configuration being used: ".*out\/app\/wrangler\.json"/)
    assert.doesNotMatch(out, /configPath|python_modules|local_protocol|enable_containers/)
  })
})

describe('wharf dev: bad redirects and stuck Workers are errors, never hangs', () => {
  it('a deploy config naming a missing file is ERR_WHARF_CONFIG with the fix', async () => {
    const dir = redirectedProject('../../out/gone/wrangler.json')
    try {
      const { code, stderr } = await runWharf(['dev', dir, '--port', '0', '--no-watch'])
      assert.equal(code, 1)
      assert.match(stderr, /ERR_WHARF_CONFIG/)
      assert.match(stderr, /redirects to .*out\/gone\/wrangler\.json, which does not exist/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a Worker whose top level never finishes fails with ERR_WHARF_STARTUP in bounded time', async () => {
    const started = performance.now()
    await assert.rejects(
      startDev({
        dir: join(FIXTURES, 'stuck'),
        port: 0,
        watch: false,
        readyTimeoutMs: 1500,
        log: () => undefined,
      }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ERR_WHARF_STARTUP')
        assert.match(error.message, /did not report ready within 1\.5 s/)
        return true
      }
    )
    // the bound plus start-up on a loaded machine, far from forever
    assert.ok(performance.now() - started < 30_000)
  })
})

describe('wharf dev: main, resolved as wrangler resolves it', () => {
  const project = join(FIXTURES, 'script-main')

  it('a main written from elsewhere names the file wrangler would look for, and the fix', () => {
    // From the project root, as its own tests run: `wharf dev test` (the config's directory).
    const run = spawnSync(process.execPath, [BIN, 'dev', 'test', '--port', '0', '--no-watch'], {
      cwd: project,
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.equal(run.status, 1, run.stderr)
    assert.match(run.stderr, /ERR_WHARF_CONFIG/)
    assert.match(run.stderr, /script-main\/test\/test\/worker\.ts/)
    assert.match(run.stderr, /run `wharf dev test\/worker\.ts`/)
  })

  it('`wharf dev SCRIPT` runs that script with the config found from its directory', async () => {
    const echo = await echoServer()
    const wharf = await startWharf(join(project, 'test', 'worker.ts'), [
      '--no-watch',
      '--allow',
      ALLOW_TEST_SERVERS,
    ])
    try {
      const reply = await get(`${wharf.url}/?port=${echo.port}`)
      assert.equal(reply.status, 200, reply.body)
      assert.equal(reply.body, 'EHLO wharf\r\n')
    } finally {
      await wharf.stop()
      await echo.close()
    }
  })

  it('a main inside an installed package (no "type", ESM syntax) is bundled like any other', async () => {
    const { dir, remove } = tempTree({
      'wrangler.json':
        '{ "main": "node_modules/worker-pkg/worker.js", "compatibility_date": "2025-10-08" }',
      'node_modules/worker-pkg/package.json': '{ "name": "worker-pkg", "main": "worker.js" }',
      'node_modules/worker-pkg/worker.js':
        "import { kind } from './kind'\nexport default { fetch: () => new Response(kind) }\n",
      'node_modules/worker-pkg/kind.js': "export const kind = 'from a package'\n",
    })
    try {
      const wharf = await startWharf(dir, ['--no-watch'])
      try {
        const reply = await get(wharf.url)
        assert.equal(reply.status, 200, reply.body)
        assert.equal(reply.body, 'from a package')
      } finally {
        await wharf.stop()
      }
    } finally {
      remove()
    }
  })
})

describe('wharf dev: bundle details wrangler users rely on', () => {
  // A stand-in for npm's `debug`: a Node build in `main`, a browser build in `browser`.
  const files = (flags: string): Record<string, string> => ({
    'wrangler.json': `{ "main": "worker.js", "compatibility_date": "2025-07-01", "compatibility_flags": [${flags}] }`,
    'worker.js':
      "import debug from 'debug'\nimport { createRequire } from './cjs.cjs'\n" +
      'export default { fetch: () => Response.json({ imported: debug.build, required: createRequire(), nodeEnv: process.env.NODE_ENV }) }\n',
    'cjs.cjs': "exports.createRequire = () => require('debug').build\n",
    'node_modules/debug/package.json':
      '{ "name": "debug", "main": "./src/index.js", "browser": "./src/browser.js" }',
    'node_modules/debug/src/index.js': "module.exports = { build: 'node' }\n",
    'node_modules/debug/src/browser.js': "module.exports = { build: 'browser' }\n",
  })

  it('under nodejs_compat `debug` is its Node build (import and require), and NODE_ENV is "development"', async () => {
    const { dir, remove } = tempTree(files('"nodejs_compat"'))
    try {
      const wharf = await startWharf(dir, ['--no-watch'])
      try {
        const reply = await get(wharf.url)
        assert.equal(reply.status, 200, reply.body)
        assert.deepEqual(JSON.parse(reply.body), {
          imported: 'node',
          required: 'node',
          nodeEnv: 'development',
        })
      } finally {
        await wharf.stop()
      }
    } finally {
      remove()
    }
  })

  it('without nodejs_compat `debug` keeps the browser build, as wrangler bundles it', async () => {
    const { dir, remove } = tempTree({
      ...files(''),
      // no process global without nodejs_compat: only the define can answer NODE_ENV
      'worker.js':
        "import debug from 'debug'\n" +
        'export default { fetch: () => Response.json({ imported: debug.build, nodeEnv: process.env.NODE_ENV }) }\n',
    })
    try {
      const wharf = await startWharf(dir, ['--no-watch'])
      try {
        const reply = await get(wharf.url)
        assert.equal(reply.status, 200, reply.body)
        assert.deepEqual(JSON.parse(reply.body), { imported: 'browser', nodeEnv: 'development' })
      } finally {
        await wharf.stop()
      }
    } finally {
      remove()
    }
  })
})
