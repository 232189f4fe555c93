// The differential conformance suite under node:test: every scenario runs in workerd (pinned) and
// in @wharf/sockets; a trace difference not listed in conformance/DIFFERENCES.md fails its subtest.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { scenarios } from '../scenarios/index.js'
import { runSuite, summaryTable, traceDiff } from '../src/suite.js'

test('workerd conformance', { timeout: 110_000 }, async (t) => {
  assert.ok(scenarios.length >= 80, `expected at least 80 scenarios, have ${scenarios.length}`)
  const result = await runSuite(scenarios)
  t.diagnostic(summaryTable(result))
  assert.equal(result.outcomes.length, scenarios.length, 'every scenario produced an outcome')
  for (const o of result.outcomes) {
    await t.test(o.scenario.id, () => {
      assert.ok(o.workerd.failure === undefined, `workerd run failed: ${o.workerd.failure}`)
      assert.ok(o.wharf.failure === undefined, `wharf run failed: ${o.wharf.failure}`)
      assert.ok(o.expected.length > 0, 'workerd produced an empty trace')
      if (o.difference) {
        // A documented difference must still be exactly the recorded one: not gone (stale), not
        // another difference, and neither side may have thrown or timed out.
        assert.notEqual(o.status, 'stale', `${o.scenario.id} now matches: remove its entry`)
        assert.equal(o.status, 'documented', `${o.scenario.title}\n${traceDiff(o)}`)
        const kind = o.difference.kind === 'gap' ? 'known gap' : 'deliberate difference'
        t.diagnostic(`${o.scenario.id}: ${kind} (conformance/DIFFERENCES.md)`)
        return
      }
      assert.equal(o.status, 'match', `${o.scenario.title}\n${traceDiff(o)}`)
    })
  }
  await t.test('DIFFERENCES.md names only existing scenarios', () => {
    assert.deepEqual(result.unknownDifferences, [])
  })
})
