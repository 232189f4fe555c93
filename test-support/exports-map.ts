// The public surface of a package, entry by entry (as hono checks its exports map): every entry
// resolves by the package's own name to built files that exist, exposes exactly its documented
// names (the built file and the source agree), and no internal helper leaks into any entry.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface Target {
  readonly types?: string
  readonly default?: string
}

/**
 * Checks `packages/<dir>`'s exports map. `expected` maps each runtime entry (`.`, `./egress`, …)
 * to its names; `internals` are names that must be in no entry.
 */
export async function checkExportsMap(
  pkgDir: string,
  expected: Readonly<Record<string, readonly string[]>>,
  internals: readonly string[]
): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    name: string
    exports: Record<string, string | Target>
  }
  const entries = Object.entries(pkg.exports).filter(
    (e): e is [string, Target] => typeof e[1] === 'object' && e[1].default !== undefined
  )
  assert.deepEqual(entries.map(([k]) => k).sort(), Object.keys(expected).sort(), 'entries')
  const seen = new Set<string>()
  for (const [entry, target] of entries) {
    for (const file of [target.default, target.types]) {
      assert.ok(file !== undefined, `${entry} has no types`)
      assert.ok(existsSync(join(pkgDir, file)), `${entry}: ${file} is missing (not built?)`)
    }
    const specifier = pkg.name + entry.slice(1)
    const resolved = fileURLToPath(import.meta.resolve(specifier))
    assert.equal(resolved, join(pkgDir, target.default ?? ''), `${specifier} resolves elsewhere`)
    const built = Object.keys((await import(specifier)) as object).sort()
    const source = (target.default ?? '').replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts')
    const fromSource = Object.keys((await import(join(pkgDir, source))) as object).sort()
    assert.deepEqual(fromSource, [...(expected[entry] ?? [])].sort(), `exports of ${specifier}`)
    assert.deepEqual(built, fromSource, `${specifier}: the build is stale`)
    for (const name of built) seen.add(name)
  }
  const leaked = internals.filter((name) => seen.has(name))
  assert.deepEqual(leaked, [], 'internal names exported')
}
