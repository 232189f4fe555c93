// What the Worker sees of `process` and of the built-ins workerd stubs out, against workerd
// itself (tools/workerd, the pinned oracle): the same Worker file runs in both, and the answers
// must be equal. Covers process.env (vars and secrets, never the host's), process.binding and
// friends, and child_process, cluster, worker_threads, vm, inspector, at two compatibility dates.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { freePort } from '../../../test-support/servers.js'
import { FIXTURES, ROOT, get, startWharf, tempProject } from './helpers.js'
import { compatOf, processEnvOf } from '../src/runtime/node/compat.js'

const SOURCE = readFileSync(join(FIXTURES, 'workerd-shape', 'worker.js'), 'utf8')
const VARS = { TEXT: 't1', JSONV: { a: 1 }, NUM: 42 }
/** Where Node cannot be made to match workerd (documented in docs/host.md). */
const KNOWN_DIFFERENCES = new Set(['worker_threads.MessagePort'])

async function runWorkerd(date: string, flags: string[]): Promise<Record<string, string>> {
  const { ensureWorkerd } = (await import(join(ROOT, 'scripts', 'ensure-workerd.mjs'))) as {
    ensureWorkerd: () => string
  }
  const dir = mkdtempSync(join(tmpdir(), 'wharf-shape-'))
  const port = await freePort()
  writeFileSync(join(dir, 'shape.js'), SOURCE)
  const bindings = Object.entries(VARS)
    .map(([name, value]) =>
      typeof value === 'string'
        ? `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(value)})`
        : `(name = ${JSON.stringify(name)}, json = ${JSON.stringify(JSON.stringify(value))})`
    )
    .join(', ')
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ( name = "main", worker = (
    modules = [ ( name = "shape.js", esModule = embed "shape.js" ) ],
    compatibilityDate = "${date}",
    compatibilityFlags = [${flags.map((f) => JSON.stringify(f)).join(', ')}],
    bindings = [ ${bindings} ],
  ) ) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
`
  )
  const child: ChildProcess = spawn(ensureWorkerd(), ['serve', join(dir, 'config.capnp')], {
    stdio: 'ignore',
  })
  try {
    const deadline = Date.now() + 20_000
    for (;;) {
      try {
        const reply = await get(`http://127.0.0.1:${port}/`, 2000)
        return JSON.parse(reply.body) as Record<string, string>
      } catch (error) {
        if (Date.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  } finally {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runWharf(date: string, flags: string[]): Promise<Record<string, string>> {
  const project = tempProject({
    'worker.js': SOURCE,
    'wrangler.json': JSON.stringify({
      main: 'worker.js',
      compatibility_date: date,
      compatibility_flags: flags,
      vars: VARS,
    }),
  })
  process.env.WHARF_TEST_HOST_SECRET = 'must-not-reach-the-worker'
  const wharf = await startWharf(project.dir, ['--no-watch']).finally(() => {
    delete process.env.WHARF_TEST_HOST_SECRET
  })
  try {
    return JSON.parse((await get(`${wharf.url}/`)).body) as Record<string, string>
  } finally {
    await wharf.stop()
    project.remove()
  }
}

describe('what the Worker sees, against workerd 1.20261117.1', () => {
  const cases: [string, string[]][] = [
    ['2026-11-01', ['nodejs_compat']],
    ['2025-06-01', ['nodejs_compat']],
    ['2026-11-01', ['nodejs_compat', 'nodejs_compat_do_not_populate_process_env']],
  ]
  for (const [date, flags] of cases) {
    it(`${date} ${flags.join(' ')}: the same answers as workerd`, async () => {
      const [oracle, ours] = await Promise.all([runWorkerd(date, flags), runWharf(date, flags)])
      assert.ok(Object.keys(oracle).length > 0)
      const differences: string[] = []
      for (const key of new Set([...Object.keys(oracle), ...Object.keys(ours)])) {
        if (KNOWN_DIFFERENCES.has(key) || ours[key] === oracle[key]) continue
        differences.push(`${key}: wharf ${ours[key]}, workerd ${oracle[key]}`)
      }
      assert.deepEqual(differences, [])
      assert.doesNotMatch(ours['process.env'] ?? '', /must-not-reach-the-worker/)
    })
  }
  after(() => undefined)
})

describe('compatOf: the dates and flags found with workerd', () => {
  it('populates process.env under nodejs_compat from 2025-04-01 or with the flag', () => {
    const vars = { A: 'x', N: 1 }
    const env = (date: string, flags: string[]): Record<string, string> =>
      processEnvOf(compatOf({ compatibilityDate: date, compatibilityFlags: flags }), vars)
    assert.deepEqual(env('2025-03-31', ['nodejs_compat']), {})
    assert.deepEqual(env('2025-04-01', ['nodejs_compat']), { A: 'x', N: '1' })
    assert.deepEqual(env('2024-09-23', ['nodejs_compat', 'nodejs_compat_populate_process_env']), {
      A: 'x',
      N: '1',
    })
    assert.deepEqual(env('2026-06-01', []), {}, 'no nodejs_compat before it is on by default')
    assert.deepEqual(env('2026-08-04', []), { A: 'x', N: '1' }, 'nodejs_compat on by default')
    assert.deepEqual(
      env('2026-11-01', ['nodejs_compat', 'nodejs_compat_do_not_populate_process_env']),
      {}
    )
  })
})
