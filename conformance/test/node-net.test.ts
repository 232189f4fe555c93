// node:net / node:tls conformance under node:test: every scenario of conformance/node-net runs in
// workerd (pinned, nodejs_compat) and on @wharf/sockets/node/*; a trace difference not listed in
// conformance/node-net/differences.ts fails its subtest, and so does a listed difference that
// is not exactly the one it records.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { netDifferences } from '../node-net/differences.js'
import { netTraceDiff, runNetSuite } from '../node-net/runner.js'
import { netScenarios } from '../node-net/scenarios.js'

test('node:net conformance against workerd', { timeout: 120_000 }, async (t) => {
  assert.ok(
    netScenarios.length >= 25,
    `expected at least 25 scenarios, have ${netScenarios.length}`
  )
  const outcomes = await runNetSuite(netScenarios)
  assert.equal(outcomes.length, netScenarios.length)
  for (const o of outcomes) {
    await t.test(o.scenario.id, () => {
      assert.ok(o.workerd.failure === undefined, `workerd run failed: ${o.workerd.failure}`)
      assert.ok(o.expected.length > 0, 'workerd produced an empty trace')
      const entry = netDifferences[o.scenario.id]
      if (entry !== undefined) {
        // Exactly the recorded difference: not gone (stale), not another one, no side broken.
        assert.equal(o.status, 'documented', `${o.scenario.title}\n${netTraceDiff(o)}`)
        t.diagnostic(`${o.scenario.id}: documented difference (${entry.reason})`)
        return
      }
      assert.equal(o.status, 'match', `${o.scenario.title}\n${netTraceDiff(o)}`)
    })
  }
  await t.test('differences.ts names only existing scenarios', () => {
    const ids = new Set(netScenarios.map((s) => s.id))
    assert.deepEqual(
      Object.keys(netDifferences).filter((id) => !ids.has(id)),
      []
    )
  })
})
