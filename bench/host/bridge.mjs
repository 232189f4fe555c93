#!/usr/bin/env node
// The runtime's HTTP bridge alone (runtime/http-bridge.js and the request scope; no socket, no
// supervisor): a node:http server that builds the Worker's Request, runs a handler returning
// `new Response('pong')` in a RequestScope and writes the Response back. One server process
// holds one such server per build given, so the builds share the process, its load and its
// async hooks; the loads alternate between them, and each burst's user+sys CPU of that process
// (process.cpuUsage over IPC) is divided by its requests. That resolves differences of a few µs
// per request, which split.mjs cannot on a shared machine.
// Usage: node bench/host/bridge.mjs [--root <checkout with a build>]... [--rounds 6]
//        [--duration 2] [--connections 20]
import { fork } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    root: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '6' },
    duration: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    serve: { type: 'boolean', default: false },
  },
})
const here = fileURLToPath(new URL('../..', import.meta.url))
const roots = values.root.length > 0 ? values.root : [here]

if (values.serve) {
  const http = await import('node:http')
  const ports = []
  for (const root of roots) {
    const dist = pathToFileURL(`${root}/packages/host/dist/runtime/`)
    const bridge = await import(new URL('http-bridge.js', dist).href)
    const { RequestScope, requestStore } = await import(new URL('request-scope.js', dist).href)
    // The Response class this build's Worker would see (older builds track no bodies).
    const Before = globalThis.Response
    bridge.trackFixedBodies?.()
    const WorkerResponse = globalThis.Response
    globalThis.Response = Before
    let id = 0
    const server = http.createServer((req, res) => {
      const scope = new RequestScope(++id)
      void requestStore.run(scope, async () => {
        const request = bridge.toRequest(req, 'http://127.0.0.1')
        const response = await Promise.resolve(new WorkerResponse(`pong ${request.method}`))
        await bridge.writeResponse(res, response)
        await scope.settled(1000)
      })
    })
    server.keepAliveTimeout = 60_000
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    ports.push(server.address().port)
  }
  process.send({ ports })
  process.on('message', () => {
    const u = process.cpuUsage()
    process.send({ cpu: u.user + u.system })
  })
} else {
  const { default: autocannon } = await import('autocannon')
  const child = fork(fileURLToPath(import.meta.url), [
    '--serve',
    ...roots.flatMap((r) => ['--root', r]),
  ])
  const next = () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the server')), 20_000)
      child.once('message', (m) => (clearTimeout(timer), resolve(m)))
    })
  const rows = roots.map(() => [])
  try {
    const { ports } = await next()
    const connections = Number(values.connections)
    for (const port of ports)
      await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: 1 })
    for (let round = 0; round < Number(values.rounds); round++) {
      // Alternated, and the order flipped every round.
      const order =
        round % 2 === 0 ? ports.map((_, i) => i) : ports.map((_, i) => ports.length - 1 - i)
      for (const i of order) {
        child.send(0)
        const before = (await next()).cpu
        const r = await autocannon({
          url: `http://127.0.0.1:${ports[i]}/`,
          connections,
          duration: Number(values.duration),
        })
        child.send(0)
        const us = ((await next()).cpu - before) / Math.max(1, r.requests.total)
        rows[i].push(us)
        console.log(
          `round ${round + 1} ${roots[i]}: ${r.requests.average.toFixed(0)} req/s, server cpu ${us.toFixed(1)} us/req, errors ${r.errors + r.non2xx}, load ${loadavg()[0].toFixed(2)}`
        )
      }
    }
  } finally {
    child.kill()
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  roots.forEach((root, i) =>
    console.log(
      `median ${median(rows[i]).toFixed(1)} us/req  ${root}  (${rows[i].map((x) => x.toFixed(1)).join(' / ')})`
    )
  )
}
