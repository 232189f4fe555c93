// Runs the suite outside node:test: `node --import tsx conformance/run.ts [id-substring...]`.
// Prints the summary table and, for every mismatch, both traces side by side.
import { scenarios } from './scenarios/index.js'
import { runSuite, summaryTable, traceDiff } from './src/suite.js'

const args = process.argv.slice(2)
const verbose = args.includes('-v')
const filters = args.filter((a) => a !== '-v' && a !== '--record')
const picked = scenarios.filter(
  (s) => filters.length === 0 || filters.some((f) => s.id.includes(f))
)
const result = await runSuite(picked)
console.log(summaryTable(result))
for (const o of result.outcomes) {
  if (o.status !== 'match' || verbose) {
    console.log(`\n=== ${o.scenario.id} (${o.status})\n${traceDiff(o)}`)
  }
}
if (result.staleDifferences.length > 0)
  console.log(`\ndocumented differences that now match: ${result.staleDifferences.join(', ')}`)
if (args.includes('--record')) {
  // Prints the ```diff block DIFFERENCES.md needs for each scenario that differs.
  for (const o of result.outcomes.filter((x) => x.lines.length > 0)) {
    console.log(`\n## ${o.scenario.id}\n\n\`\`\`diff\n${o.lines.join('\n')}\n\`\`\``)
  }
}
process.exitCode = result.outcomes.some((o) => !['match', 'documented'].includes(o.status)) ? 1 : 0
