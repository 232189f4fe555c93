#!/usr/bin/env node
// Runs the sockets, conformance and host suites on Node 22 and 24 as well (the main run is on the
// machine's Node): `npm run test:nodes [-- FILTER...]`. The same launcher, so zero tests ran is a
// failure.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ensureExtraNodes } from './extra-nodes.mjs'

const launcher = join(import.meta.dirname, 'test.mjs')
const filters = process.argv.slice(2)
const suites =
  filters.length > 0 ? filters : ['packages/sockets/test', 'conformance/test', 'packages/host/test']
let failed = false
for (const node of ensureExtraNodes()) {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(`\n=== ${version}: ${suites.join(' ')} ===`)
  const run = spawnSync(node, [launcher, ...suites], { stdio: 'inherit', timeout: 20 * 60_000 })
  if (run.status !== 0) {
    console.error(`=== ${version}: failed (status ${run.status ?? run.signal}) ===`)
    failed = true
  }
}
process.exit(failed ? 1 : 0)
