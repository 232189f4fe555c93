#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time by area and by function.
//   node bench/profile/summarize.mjs FILE.cpuprofile [--top 25]
// Areas: web streams (node:internal/webstreams), net/stream plumbing, promises/microtasks,
// @wharf/sockets, GC, idle, other. Used for docs/performance.md.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
})
const file = positionals[0]
if (!file) {
  console.error('usage: summarize.mjs FILE.cpuprofile [--top N]')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const selfUs = new Map()
// timeDeltas[i] is the time before sample i; attribute it to that sample's node.
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}

function area(frame) {
  const url = frame.url ?? ''
  const name = frame.functionName
  if (name === '(idle)') return 'idle'
  if (name === '(garbage collector)') return 'GC'
  if (name === '(program)') return 'native (program)'
  if (url.includes('internal/webstreams') || url.includes('internal/worker/js_transferable'))
    return 'web streams (node:internal/webstreams, Node 20 also js_transferable)'
  if (url.includes('packages/sockets/') || url.includes('@wharf/sockets')) return '@wharf/sockets'
  if (url.includes('@arrowood.dev')) return '@arrowood.dev/socket'
  if (
    /node:(net|internal\/(net|stream_base_commons|streams|dns|timers|perf)|timers|stream|events|internal\/event_target)/.test(
      url
    ) ||
    /^node:internal\/(errors|validators|util)/.test(url)
  )
    return 'node:net, node streams, events'
  if (
    url.startsWith('node:internal/process/task_queues') ||
    name === 'processTicksAndRejections' ||
    name === 'runMicrotasks'
  )
    return 'microtasks / nextTick'
  if (url === '' && name !== '') return `native: ${name}`
  return 'other JS'
}

const areas = new Map()
const fns = new Map()
let total = 0
for (const [id, us] of selfUs) {
  const n = byId.get(id)
  const f = n.callFrame
  total += us
  const a = area(f)
  areas.set(a, (areas.get(a) ?? 0) + us)
  const where = f.url
    ? `${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}`
    : ''
  const key = `${f.functionName || '(anonymous)'} ${where}`
  fns.set(key, (fns.get(key) ?? 0) + us)
}
const idle = areas.get('idle') ?? 0
const busy = total - idle
const pct = (us) => `${((us / busy) * 100).toFixed(1)}%`
console.log(
  `profile ${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (percentages of busy time)`
)
console.log('\nby area:')
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) {
  if (a === 'idle') continue
  console.log(`  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(1).padStart(8)} ms  ${a}`)
}
console.log(`\ntop ${values.top} functions (self):`)
for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) {
  if (k.startsWith('(idle)')) continue
  console.log(`  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`)
}
