// The register entry, as users run it: `node --import @wharf/sockets/register app`, in child
// processes, on Node 20 (this process) and on Node 22 and 24 (installed from the registry).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { echoServer, type TestServer } from '../../../test-support/servers.js'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..', '..')
const fixtures = join(import.meta.dirname, 'fixtures', 'register')

let server: TestServer
let nodes: string[] = [process.execPath]

before(async () => {
  if (!existsSync(join(root, 'packages', 'sockets', 'dist', 'register.js'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  }
  const extra = (await import(join(root, 'scripts', 'extra-nodes.mjs'))) as {
    ensureExtraNodes: () => string[]
  }
  nodes = [process.execPath, ...extra.ensureExtraNodes()]
  server = await echoServer()
})
after(() => server.close())

async function runWith(node: string, file: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(
    node,
    ['--import', '@wharf/sockets/register', join(fixtures, file), server.address],
    {
      cwd: root,
      timeout: 30_000,
    }
  )
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>
}

async function versionOf(node: string): Promise<string> {
  return (await run(node, ['--version'])).stdout.trim()
}

test('ESM: static import, dynamic import and require() give one module that works', async () => {
  for (const node of nodes) {
    const result = await runWith(node, 'esm.mjs')
    assert.deepEqual(
      result,
      { static: 'function', requireSame: true, dynamicSame: true, echoed: 'ping' },
      await versionOf(node)
    )
  }
})

test('CommonJS: require() and dynamic import() from CJS give one module that works', async () => {
  for (const node of nodes) {
    const result = await runWith(node, 'cjs.cjs')
    assert.deepEqual(
      result,
      { require: 'function', same: true, echoed: 'pong' },
      await versionOf(node)
    )
  }
})

test('worker threads inherit the mapping', async () => {
  for (const node of nodes) {
    assert.deepEqual(
      await runWith(node, 'worker.mjs'),
      { worker: 'function' },
      await versionOf(node)
    )
  }
})

test('without the register entry the specifier does not resolve (the test can fail)', async () => {
  await assert.rejects(
    run(process.execPath, [join(fixtures, 'esm.mjs'), server.address], {
      cwd: root,
      timeout: 30_000,
    }),
    (e: { stderr?: string }) => /cloudflare:|ERR_UNSUPPORTED_ESM_URL_SCHEME/.test(e.stderr ?? '')
  )
})

test('ambient types type-check beside @types/node', async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const { stdout } = await run(process.execPath, [tsc, '-p', join(fixtures, 'tsconfig.json')], {
    cwd: root,
    // tsc over @types/node takes a minute on a loaded 2-core machine.
    timeout: 180_000,
  }).catch((e: { stdout?: string }) => {
    throw new Error(`tsc failed:\n${e.stdout ?? ''}`)
  })
  assert.equal(stdout.trim(), '')
})
