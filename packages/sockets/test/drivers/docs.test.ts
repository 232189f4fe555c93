// docs/drivers.md must show the code the driver tests run: each block marked
// `<!-- example: <path> -->` must equal that file, and each recipe's command line must use the
// flags its test uses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './run-app.js'

const doc = readFileSync(join(root, 'docs', 'drivers.md'), 'utf8')

const expected: Record<string, string> = {
  'examples/pg/app.mjs':
    'node --import @wharf/sockets/navigator --conditions=workerd examples/pg/app.mjs',
  'examples/postgres-js/app.mjs':
    'node --import @wharf/sockets/register --conditions=workerd examples/postgres-js/app.mjs',
  'examples/worker-mailer/app.mjs':
    'node --import @wharf/sockets/register examples/worker-mailer/app.mjs',
  'examples/redis-on-workers/app.mjs':
    'node --import @wharf/sockets/register examples/redis-on-workers/app.mjs',
}

test('every example is shown in docs/drivers.md exactly as it is in examples/', () => {
  const blocks = [...doc.matchAll(/<!-- example: (\S+) -->\n```js\n([\s\S]*?)\n```/g)]
  assert.deepEqual(blocks.map((b) => b[1]).sort(), Object.keys(expected).sort())
  for (const [, path, code] of blocks) {
    assert.equal(`${code ?? ''}\n`, readFileSync(join(root, path ?? ''), 'utf8'), `${path} differs`)
  }
})

test("each recipe's command line is the one its test runs", () => {
  for (const command of Object.values(expected)) assert.ok(doc.includes(command), command)
})
