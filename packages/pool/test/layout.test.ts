// The protocol-neutral core must not depend on a protocol front end (see src/README.md).
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

const SRC = join(import.meta.dirname, '..', 'src')

test('core/ imports nothing from pg/, mysql/ or the top-level pooler', () => {
  const files = readdirSync(join(SRC, 'core')).filter((f) => f.endsWith('.ts'))
  assert.ok(files.length >= 4, `core/ has ${files.length} files`)
  for (const file of files) {
    const text = readFileSync(join(SRC, 'core', file), 'utf8')
    const imports = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1] ?? '')
    for (const spec of imports) {
      if (!spec.startsWith('.')) continue
      assert.ok(
        spec.startsWith('./') || spec === '../errors.js',
        `core/${file} imports ${spec}: only core/ and ../errors.js are allowed`
      )
    }
  }
})
