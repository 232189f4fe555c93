// One measurement in a fresh process: `node --expose-gc client.mjs <peer> <scenario> <json>`.
// Prints one JSON line with the result. Peers: node (raw net/tls), wharf (the built
// @wharf/sockets dist), arrowood (@arrowood.dev/socket).
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { cfScenarios } from './cf-scenarios.js'
import { nodeScenarios } from './node-scenarios.mjs'

const [peer, scenario, json] = process.argv.slice(2)
const params = JSON.parse(json ?? '{}')
const now = () => performance.now()

async function load() {
  if (peer === 'node') return nodeScenarios
  if (peer === 'wharf') {
    // The shipped build, resolved through the workspace link exactly as a user would import it.
    const { connect } = await import('@wharf/sockets')
    return cfScenarios({ connect, opened: (s) => s.opened, now })
  }
  if (peer === 'arrowood') {
    const { connect } = await import('@arrowood.dev/socket')
    // It has no `opened`: wait for the Node socket it wraps to connect (or finish its handshake).
    const opened = async (s) => {
      const inner = s.socket
      if (inner.connecting || (s.secureTransport === 'on' && !inner.authorized)) {
        const failed = once(inner, 'error').then(([e]) => Promise.reject(e))
        await Promise.race([
          once(inner, s.secureTransport === 'on' ? 'secureConnect' : 'connect'),
          failed,
        ])
        failed.catch(() => undefined)
      }
    }
    return cfScenarios({ connect, opened, now })
  }
  throw new Error(`unknown peer ${peer}`)
}

const memory = () => {
  for (let i = 0; i < 4; i++) globalThis.gc?.()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}

const scenarios = await load()
if (scenario === 'hold') {
  // Warm the code paths first so the baseline already holds the compiled code.
  const release0 = await scenarios.hold({ port: params.port, count: 20 })
  await release0()
  await new Promise((r) => setTimeout(r, 100))
  const before = memory()
  const release = await scenarios.hold(params)
  await new Promise((r) => setTimeout(r, 200))
  const after = memory()
  await release()
  console.log(
    JSON.stringify({
      heapPerSocket: (after.heapUsed - before.heapUsed) / params.count,
      rssPerSocket: (after.rss - before.rss) / params.count,
    })
  )
} else {
  const run = scenarios[scenario]
  if (!run) throw new Error(`unknown scenario ${scenario}`)
  // CPU of the whole process (user + system, every thread, GC included) per operation: under a
  // loaded machine far steadier than the wall-clock rate.
  const cpu0 = process.cpuUsage()
  const result = await run(params)
  const cpu = process.cpuUsage(cpu0)
  if (result.ops) result.cpuUsPerOp = (cpu.user + cpu.system) / result.ops
  if (result.bytes) result.cpuUsPerMiB = (cpu.user + cpu.system) / (result.bytes / 1048576)
  console.log(JSON.stringify(result))
}
