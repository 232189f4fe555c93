#!/usr/bin/env node
// What AsyncLocalStorage costs the Worker's socket round trip: the bench Worker's handler on
// @wharf/sockets (as `servers.mjs plain-sockets`, with its echo service in the same process),
// run inside `als.run()` or not (`als.disable()` turns the async hooks off again), loads
// alternated in one server process (8 rounds, the order flipped each round). Prints the median
// user+sys CPU per request of that process for each, and every round's figure.
// Usage: node bench/host/als-ab.mjs   (the host runs every request in such a run: request-scope.ts)
import http from 'node:http'
import net from 'node:net'
import { fork } from 'node:child_process'
import { AsyncLocalStorage } from 'node:async_hooks'
import { loadavg } from 'node:os'
if (process.argv[2] === 'serve') {
  const { connect } = await import('@wharf/sockets')
  const echo = net.createServer((s) => {
    s.on('data', (c) => s.write(c))
    s.on('error', () => {})
  })
  await new Promise((r) => echo.listen(0, '127.0.0.1', r))
  const target = `127.0.0.1:${echo.address().port}`
  const ping = new TextEncoder().encode('ping')
  const als = new AsyncLocalStorage()
  let useAls = false
  async function handle(res) {
    const socket = connect(target)
    const writer = socket.writable.getWriter()
    await writer.write(ping)
    const reader = socket.readable.getReader()
    let got = 0
    while (got < 4) {
      const { value, done } = await reader.read()
      if (done) break
      got += value.byteLength
    }
    await socket.close()
    res.end('pong')
  }
  const server = http.createServer((req, res) => {
    if (useAls) als.run({}, () => handle(res))
    else handle(res)
  })
  server.keepAliveTimeout = 60000
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('message', (m) => {
    if (m.mode !== undefined) {
      useAls = m.mode
      if (!useAls) als.disable()
    }
    const u = process.cpuUsage()
    process.send({ cpu: u.user + u.system })
  })
} else {
  const { default: autocannon } = await import('autocannon')
  const child = fork(new URL(import.meta.url).pathname, ['serve'], { stdio: 'inherit' })
  const next = () => new Promise((r) => child.once('message', r))
  const { port } = await next()
  const url = `http://127.0.0.1:${port}/`
  await autocannon({ url, connections: 20, duration: 1 })
  const rows = { false: [], true: [] }
  for (let round = 0; round < 8; round++)
    for (const mode of round % 2 ? [true, false] : [false, true]) {
      child.send({ mode })
      await next()
      await autocannon({ url, connections: 20, duration: 0.5 })
      child.send({})
      const a = (await next()).cpu
      const r = await autocannon({ url, connections: 20, duration: 2 })
      child.send({})
      const b = (await next()).cpu
      rows[mode].push((b - a) / r.requests.total)
    }
  const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1]
  console.log(
    process.version,
    'no ALS',
    med(rows.false).toFixed(1),
    rows.false.map((x) => x.toFixed(0)).join('/'),
    '| ALS run',
    med(rows.true).toFixed(1),
    rows.true.map((x) => x.toFixed(0)).join('/'),
    '| load',
    loadavg()[0].toFixed(2)
  )
  child.kill()
}
