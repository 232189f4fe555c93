// `--import @wharf/sockets/navigator`: workerd's user agent for drivers that detect Workers by it
// (pg), on Node 20 (no navigator) and Node 22/24 (Node's navigator, only userAgent shadowed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describeRun, ensureBuilt, extraNodes, root, runApp } from './run-app.js'

const APP = 'packages/sockets/test/drivers/fixtures/navigator.mjs'

test('sets navigator.userAgent to Cloudflare-Workers and registers cloudflare:sockets', async () => {
  ensureBuilt()
  for (const node of [process.execPath, ...(await extraNodes())]) {
    const { stdout } = await promisify(execFile)(node, ['-p', 'process.versions.node'], {
      cwd: root,
    })
    const major = Number(stdout.split('.')[0])
    const r = await runApp(APP, [], { node, imports: ['@wharf/sockets/navigator'] })
    assert.deepEqual(
      r.result,
      {
        userAgent: 'Cloudflare-Workers',
        // Enumerable, as Node's own navigator is (Node >= 21).
        enumerable: true,
        // Node >= 21 has its own navigator: the rest of it stays.
        hardwareConcurrency: major >= 21 ? 'number' : 'undefined',
        connect: 'function',
      },
      describeRun(r)
    )
  }
})

test('the register entry alone leaves navigator alone', async () => {
  ensureBuilt()
  const r = await runApp(APP, [], { imports: ['@wharf/sockets/register'] })
  const expected = Number(process.versions.node.split('.')[0]) >= 21 ? /^Node\.js\// : undefined
  if (expected === undefined) assert.equal(r.result?.userAgent, undefined, describeRun(r))
  else assert.match(String(r.result?.userAgent), expected)
})
