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

test('pool codes live in errors.ts only (one error model)', () => {
  const src = join(ROOT, 'packages', 'pool', 'src')
  for (const file of sourceFiles(src)) {
    if (file.endsWith('errors.ts')) continue
    const text = readFileSync(file, 'utf8')
    const found = [...text.matchAll(/(?:code\s*=|code:)\s*'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1])
    assert.deepEqual(found, [], `${file} assigns an error code outside errors.ts`)
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
