// DIFFERENCES.md entries can fail: each records the differing trace lines it expects, and a
// documented scenario passes only when exactly that difference is observed, with no side thrown
// or timed out; an entry whose scenario now matches is stale. No workerd needed here.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadDifferences, type Difference } from '../src/differences.js'
import { netDifferences } from '../node-net/differences.js'
import { normalize } from '../src/normalize.js'
import { differingLines, statusOf } from '../src/suite.js'
import type { RunResult, Scenario, TraceEntry } from '../src/types.js'

const dir = mkdtempSync(join(tmpdir(), 'wharf-differences-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function load(text: string): Map<string, Difference> {
  const file = join(dir, `d${Math.random().toString(36).slice(2)}.md`)
  writeFileSync(file, text)
  return loadDifferences(file)
}

const run = (trace: TraceEntry[], failure?: string): RunResult =>
  failure === undefined ? { trace, ms: 1 } : { trace, ms: 1, failure }

describe('DIFFERENCES.md entries', () => {
  const workerd: TraceEntry[] = [{ event: 'read', value: 1 }, { event: 'closed' }]
  const wharf: TraceEntry[] = [{ event: 'read', value: 2 }, { event: 'closed' }]
  const lines = differingLines(workerd, wharf)
  const entry = load(
    `# Deliberate differences\n\n## some-id\n\nBecause.\n\n\`\`\`diff\n${lines.join('\n')}\n\`\`\`\n`
  ).get('some-id')

  it('records the expected lines from the ```diff block', () => {
    assert.deepEqual(lines, ['- workerd: read 1', '+ wharf:   read 2'])
    assert.deepEqual(entry?.lines, lines)
  })

  it('passes only for exactly the recorded difference', () => {
    const runs = [run(workerd), run(wharf)]
    assert.equal(statusOf(entry, false, lines, runs), 'documented')
    const other = differingLines(workerd, [{ event: 'read', value: 3 }, { event: 'closed' }])
    assert.equal(statusOf(entry, false, other, runs), 'changed')
  })

  it('fails when a side threw, timed out or failed', () => {
    const threw = [...wharf, { event: 'scenario-threw', value: 'x' }]
    assert.equal(statusOf(entry, false, lines, [run(workerd), run(threw)]), 'changed')
    const timedOut = [...workerd, { event: 'scenario-timeout' }]
    assert.equal(statusOf(entry, false, lines, [run(timedOut), run(wharf)]), 'changed')
    assert.equal(statusOf(entry, false, lines, [run(workerd, 'boom'), run(wharf)]), 'changed')
  })

  it('is stale when the scenario now matches', () => {
    assert.equal(statusOf(entry, true, [], [run(workerd), run(workerd)]), 'stale')
    assert.equal(statusOf(undefined, true, [], [run(workerd), run(workerd)]), 'match')
    assert.equal(statusOf(undefined, false, lines, [run(workerd), run(wharf)]), 'mismatch')
  })

  it('takes a ```diff node<major> block on that Node only', () => {
    const file = join(dir, 'by-node.md')
    const on20 = ['- workerd: read 1', '+ wharf:   read 4']
    writeFileSync(
      file,
      `# Deliberate differences\n\n## some-id\n\nBecause.\n\n\`\`\`diff\n${lines.join('\n')}\n\`\`\`\n\n` +
        `\`\`\`diff node20\n${on20.join('\n')}\n\`\`\`\n`
    )
    assert.deepEqual(loadDifferences(file, 20).get('some-id')?.lines, on20)
    assert.deepEqual(loadDifferences(file, 22).get('some-id')?.lines, lines)
    assert.deepEqual(loadDifferences(file, 24).get('some-id')?.lines, lines)
    // An empty block: that Node matches workerd, so the entry does not apply there.
    writeFileSync(
      file,
      `# Deliberate differences\n\n## some-id\n\nBecause.\n\n\`\`\`diff\n${lines.join('\n')}\n\`\`\`\n\n` +
        '```diff node24\n```\n'
    )
    assert.equal(loadDifferences(file, 24).has('some-id'), false)
    assert.deepEqual(loadDifferences(file, 20).get('some-id')?.lines, lines)
    // A Node's own block does not stand in for the entry's.
    writeFileSync(file, `# Known gaps\n\n## x\n\nA reason.\n\n\`\`\`diff node20\n- a\n\`\`\`\n`)
    assert.throws(() => loadDifferences(file, 20), /records no expected/)
  })

  it('refuses an entry without expected lines or without a reason', () => {
    assert.throws(
      () => load('# Known gaps\n\n## x\n\nA reason, no lines.\n'),
      /records no expected/
    )
    assert.throws(() => load('# Known gaps\n\n## x\n\n```diff\n- a\n```\n'), /gives no reason/)
  })
})

describe('node:net differences', () => {
  it('each gives a reason and records well-formed workerd/wharf line pairs', () => {
    for (const [id, d] of Object.entries(netDifferences)) {
      assert.ok(d.reason.length > 20, `${id}: reason`)
      assert.ok(d.lines.length >= 2 && d.lines.length % 2 === 0, `${id}: line pairs`)
      d.lines.forEach((line, i) =>
        assert.match(line, i % 2 === 0 ? /^- workerd: / : /^\+ wharf: {3}/, `${id}: line ${i}`)
      )
    }
  })
})

describe('normalize', () => {
  it('merges consecutive reads, and consecutive node:net data events of one socket', () => {
    const chunk = (text: string) => ({ bytes: text.length, text })
    const trace: TraceEntry[] = [
      { event: 's:data', value: chunk('hello') },
      { event: 's:data', value: chunk(' world') },
      { event: 'other:data', value: chunk('!') },
      { event: 's:end' },
      { event: 'read', value: chunk('a') },
      { event: 'read', value: chunk('b') },
    ]
    const scenario = { mergeReads: true } as Scenario
    assert.deepEqual(normalize(scenario, trace, {}), [
      { event: 's:data', value: chunk('hello world') },
      { event: 'other:data', value: chunk('!') },
      { event: 's:end' },
      { event: 'read', value: chunk('ab') },
    ])
    assert.equal(normalize({} as Scenario, trace, {}).length, trace.length, 'only when asked')
  })
})
