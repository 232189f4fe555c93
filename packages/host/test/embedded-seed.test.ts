/**
 * The embedded PostgreSQL's seed failing (its own file: creating a PGlite database is the slow
 * part, and this test needs a fresh one while embedded.test.ts makes another).
 */
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, runWharf } from './helpers.js'

describe('wharf dev: the embedded PostgreSQL’s seed', { timeout: 290_000 }, () => {
  it('a seed that fails stops the start with its error and leaves no database behind', async () => {
    delete process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE
    delete process.env.WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE
    mkdirSync(join(ROOT, '.tmp'), { recursive: true })
    const bad = mkdtempSync(join(ROOT, '.tmp', 'embedded-seed-'))
    cpSync(join(ROOT, 'examples/hyperdrive'), bad, {
      recursive: true,
      filter: (source) => !source.includes('.wharf'),
    })
    try {
      writeFileSync(join(bad, 'seed.sql'), 'CREATE TABLE t (id int);\nSELECT no_such_function();\n')
      const result = await runWharf(['dev', bad, '--port', '0', '--no-watch'], 280_000)
      assert.equal(result.code, 1, result.stdout + result.stderr)
      assert.match(
        result.stderr,
        /ERR_WHARF_EMBEDDED_DB: embedded PostgreSQL: the seed SQL failed: function no_such_function\(\) does not exist/
      )
      assert.equal(existsSync(join(bad, '.wharf/hyperdrive/HYPERDRIVE')), false)
      assert.equal(existsSync(join(bad, '.wharf/hyperdrive/HYPERDRIVE.lock')), false)
    } finally {
      rmSync(bad, { recursive: true, force: true })
    }
  })
})
