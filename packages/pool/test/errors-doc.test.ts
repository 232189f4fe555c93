// docs/errors.md must document every error code in each package's errors.ts, and every SQLSTATE
// the pooler sends to clients. A code added without a line in the document fails here.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { SQLSTATE } from '../src/errors.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f))
}

test("every package's errors.ts codes are documented in docs/errors.md", () => {
  const packages = readdirSync(join(ROOT, 'packages'))
  let checked = 0
  for (const pkg of packages) {
    const file = join(ROOT, 'packages', pkg, 'src', 'errors.ts')
    if (!existsSync(file)) continue
    const codes = new Set(
      [...readFileSync(file, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1])
    )
    assert.ok(codes.size > 0, `${pkg}/src/errors.ts declares no codes`)
    for (const code of codes) {
      assert.ok(
        doc.includes(`\`${code}\``),
        `${code} (packages/${pkg}/src/errors.ts) is not in docs/errors.md`
      )
      checked++
    }
  }
  assert.ok(checked >= 8, `only ${checked} codes checked`)
})

// The Node stand-ins under host/src/runtime/node/ raise Node's own codes, as Node does: exempt.
const nodeStandIns = join(ROOT, 'packages', 'host', 'src', 'runtime', 'node')

test('codes live in errors.ts only (one error model per package)', () => {
  let files = 0
  for (const pkg of ['pool', 'host', 'tunnel']) {
    for (const file of sourceFiles(join(ROOT, 'packages', pkg, 'src'))) {
      if (file.endsWith('errors.ts') || file.startsWith(nodeStandIns)) continue
      files++
      const text = readFileSync(file, 'utf8')
      const found = [...text.matchAll(/(?:code\s*=|code:)\s*'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1])
      assert.deepEqual(found, [], `${file} assigns an error code outside errors.ts`)
      const adHoc = [...text.matchAll(/Object\.assign\(\s*new \w*Error\b/g)].map((m) => m[0])
      assert.deepEqual(adHoc, [], `${file} attaches fields to an error instead of a subclass`)
    }
  }
  assert.ok(files > 50, `only ${files} source files read`)
})

test('the host spells its ERR_WHARF_* codes in errors.ts only, each with its own class', () => {
  const errors = readFileSync(join(ROOT, 'packages', 'host', 'src', 'errors.ts'), 'utf8')
  const codes = [...errors.matchAll(/'(ERR_WHARF_[A-Z0-9_]+)'/g)].map((m) => m[1])
  // One class per code: each literal is the `code` of exactly one subclass.
  const declared = [...errors.matchAll(/declare readonly code: '(ERR_WHARF_[A-Z0-9_]+)'/g)]
  const perClass = declared.map((m) => m[1])
  assert.ok(perClass.length >= 14, `only ${perClass.length} host error classes`)
  assert.equal(new Set(perClass).size, perClass.length, 'two classes share a code')
  assert.deepEqual([...new Set(codes)].sort(), [...perClass].sort())
  for (const file of sourceFiles(join(ROOT, 'packages', 'host', 'src'))) {
    if (file.endsWith(join('src', 'errors.ts')) || file.startsWith(nodeStandIns)) continue
    const text = readFileSync(file, 'utf8')
    assert.deepEqual(
      [...text.matchAll(/'ERR_WHARF_[A-Z0-9_]*'?/g)].map((m) => m[0]),
      [],
      `${file} spells a host code: use its class from errors.ts`
    )
    assert.doesNotMatch(text, /new WharfError\(/, `${file} raises the base class with a code`)
  }
})

test('every SQLSTATE the pooler sends is documented, and the document lists no others', () => {
  const section = doc.slice(doc.indexOf('### SQLSTATEs the pooler sends to clients'))
  assert.ok(section.length > 100, 'the SQLSTATE section is missing')
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('|')))
  const documented = new Set([...table.matchAll(/^\| `([0-9A-Z]{5})` \|/gm)].map((m) => m[1]))
  const sent = new Set(Object.values(SQLSTATE))
  assert.deepEqual([...documented].sort(), [...sent].sort())
  // And the pooler's sources send no SQLSTATE literal that bypasses the table.
  for (const file of sourceFiles(join(ROOT, 'packages', 'pool', 'src', 'pg'))) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/errorResponse\(\s*'([0-9A-Z]{5})'/g)) {
      assert.fail(`${file} sends SQLSTATE ${m[1]} as a literal: use SQLSTATE from errors.ts`)
    }
  }
})
