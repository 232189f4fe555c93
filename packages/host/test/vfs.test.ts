// workerd's virtual node:fs, against workerd itself (tools/workerd, the pinned oracle): the same
// Worker (fixtures/vfs/worker.js) runs in both, and every answer must be equal: /bundle, /tmp,
// /dev, nothing of the host, the errors (code, errno, syscall, path, message, own keys), the
// callback and promise forms, FileHandle and streams. Then what each request's /tmp is.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { freePort } from '../../../test-support/servers.js'
import { FIXTURES, ROOT, get, startWharf, tempProject } from './helpers.js'
import { compatOf } from '../src/runtime/node/compat.js'

const SOURCE = readFileSync(join(FIXTURES, 'vfs', 'worker.js'), 'utf8')
const IMPORT = readFileSync(join(FIXTURES, 'vfs', 'import.js'), 'utf8')

/** Runs `fixtures/vfs/worker.js` in workerd and answers `paths` (requested all at once). */
async function inWorkerd(
  date: string,
  flags: string[],
  paths: string[],
  source = SOURCE
): Promise<string[]> {
  const { ensureWorkerd } = (await import(join(ROOT, 'scripts', 'ensure-workerd.mjs'))) as {
    ensureWorkerd: () => string
  }
  const dir = mkdtempSync(join(tmpdir(), 'wharf-vfs-'))
  const port = await freePort()
  writeFileSync(join(dir, 'worker.js'), source)
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ( name = "main", worker = (
    modules = [ ( name = "worker.js", esModule = embed "worker.js" ) ],
    compatibilityDate = "${date}",
    compatibilityFlags = [${flags.map((f) => JSON.stringify(f)).join(', ')}],
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
        await get(`http://127.0.0.1:${port}${paths[0] ?? '/'}`, 2000)
        break
      } catch (error) {
        if (Date.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    return await Promise.all(
      paths.map(async (p) => (await get(`http://127.0.0.1:${port}${p}`, 10_000)).body)
    )
  } finally {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

async function inWharf(
  date: string,
  flags: string[],
  paths: string[],
  source = SOURCE
): Promise<string[]> {
  const project = tempProject({
    'worker.js': source,
    'wrangler.json': JSON.stringify({
      main: 'worker.js',
      compatibility_date: date,
      compatibility_flags: flags,
    }),
  })
  const wharf = await startWharf(project.dir, ['--no-watch'])
  try {
    return await Promise.all(paths.map(async (p) => (await get(`${wharf.url}${p}`, 10_000)).body))
  } finally {
    await wharf.stop()
    project.remove()
  }
}

function compare(oracle: Record<string, unknown>, ours: Record<string, unknown>): string[] {
  const differences: string[] = []
  for (const key of new Set([...Object.keys(oracle), ...Object.keys(ours)])) {
    const a = JSON.stringify(ours[key])
    const b = JSON.stringify(oracle[key])
    if (a !== b) differences.push(`${key}: wharf ${a}, workerd ${b}`)
  }
  return differences
}

describe('node:fs against workerd 1.20261117.1', () => {
  it('2026-11-01 nodejs_compat: the same answers, and each request its own /tmp', async () => {
    // The warm-up's file must not show in the requests after it.
    const paths = ['/tmp?name=warmup', '/', '/tmp?name=a', '/tmp?name=b']
    const [oracle, ours] = await Promise.all([
      inWorkerd('2026-11-01', ['nodejs_compat'], paths),
      inWharf('2026-11-01', ['nodejs_compat'], paths),
    ])
    const [, probeOracle, ...tmpOracle] = oracle.map(
      (b) => JSON.parse(b) as Record<string, unknown>
    )
    const [, probeOurs, ...tmpOurs] = ours.map((b) => JSON.parse(b) as Record<string, unknown>)
    assert.ok(Object.keys(probeOracle ?? {}).length > 100)
    assert.deepEqual(compare(probeOracle ?? {}, probeOurs ?? {}), [])
    // Two concurrent requests: neither sees the other's file, nor the warm-up's.
    assert.deepEqual(tmpOracle, [
      { before: [], after: ['a'] },
      { before: [], after: ['b'] },
    ])
    assert.deepEqual(tmpOurs, tmpOracle)
  })

  for (const [date, flags] of [
    ['2025-09-14', ['nodejs_compat']],
    ['2025-09-15', ['nodejs_compat']],
    ['2025-06-01', ['nodejs_compat', 'enable_nodejs_fs_module']],
    ['2026-11-01', ['nodejs_compat', 'disable_nodejs_fs_module']],
  ] as const) {
    it(`${date} ${flags.join(' ')}: node:fs there or not, as in workerd (wrangler's stand-in where not)`, async () => {
      const [oracle, ours] = await Promise.all([
        inWorkerd(date, [...flags], ['/'], IMPORT),
        inWharf(date, [...flags], ['/'], IMPORT),
      ])
      const expected = compatOf({ compatibilityDate: date, compatibilityFlags: flags }).fs
      const answer = JSON.parse(oracle[0] ?? '') as Record<string, string>
      assert.equal(answer.fs, expected ? 'loaded: true' : 'Error: No such module "node:fs".')
      // Where workerd has no node:fs, wrangler's bundle supplies unenv's stand-in: the import
      // works (its calls throw), so projects whose dependencies import fs load as in wrangler dev.
      assert.deepEqual(
        JSON.parse(ours[0] ?? ''),
        expected ? answer : { ...answer, fs: 'loaded: true', builtin: 'function' }
      )
    })
  }
})

describe('compatOf: node:fs by date and flag', () => {
  it('from 2025-09-15 under nodejs_compat, or with enable_nodejs_fs_module; never when disabled', () => {
    const fs = (date: string, flags: string[]) =>
      compatOf({ compatibilityDate: date, compatibilityFlags: flags }).fs
    assert.equal(fs('2025-09-14', ['nodejs_compat']), false)
    assert.equal(fs('2025-09-15', ['nodejs_compat']), true)
    assert.equal(fs('2025-01-01', ['nodejs_compat', 'enable_nodejs_fs_module']), true)
    assert.equal(fs('2026-11-01', ['nodejs_compat', 'disable_nodejs_fs_module']), false)
    assert.equal(fs('2026-11-01', ['no_nodejs_compat']), false)
  })
})
