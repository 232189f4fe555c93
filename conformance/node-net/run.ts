// `npx tsx conformance/node-net/run.ts [filter]`: every node:net scenario in workerd and on
// @wharf/sockets/node/*, as a table; `-v` prints both traces of each scenario that differs.
import { netTraceDiff, runNetSuite } from './runner.js'
import { netScenarios } from './scenarios.js'

const verbose = process.argv.includes('-v')
const filter = process.argv.slice(2).find((a) => a !== '-v')
const list = netScenarios.filter((s) => filter === undefined || s.id.includes(filter))
const outcomes = await runNetSuite(list)
let unexplained = 0
for (const o of outcomes) {
  const status =
    o.status === 'match' || o.status === 'documented' ? o.status : o.status.toUpperCase()
  if (status !== o.status) unexplained++
  console.log(
    `${o.scenario.id.padEnd(34)} ${status.padEnd(10)} workerd ${Math.round(o.workerd.ms)} ms, wharf ${Math.round(o.wharf.ms)} ms`
  )
  if (verbose && o.status !== 'match') console.log(netTraceDiff(o))
}
console.log(`${outcomes.length} scenarios, ${unexplained} unexplained mismatches`)
process.exitCode = unexplained === 0 ? 0 : 1
