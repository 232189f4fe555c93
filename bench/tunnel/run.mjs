#!/usr/bin/env node
// Tunnel benchmark: a flow through @wharf/tunnel (edge and connector on loopback, one TLS
// connection per flow) against a direct loopback connection to the same echo service.
// Rows: throughput, 16-byte echo round trip (p50/p99), flows set up per second, memory per idle
// flow, and the head-of-line delay a small message sees behind a bulk transfer, on its own flow
// (this design) and queued on the same connection (what streams over one connection would see).
// Usage: node bench/tunnel/run.mjs [--mib 256] [--echoes 2000] [--flows 300]   (needs npm run build)
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { TunnelConnector, TunnelEdge, formatToken, newToken } from '@wharf/tunnel'
import { makePki } from '../lib/pki.mjs'

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    echoes: { type: 'string', default: '2000' },
    flows: { type: 'string', default: '300' },
    idle: { type: 'string', default: '500' },
  },
})
const MIB = Number(values.mib)
const ECHOES = Number(values.echoes)
const FLOWS = Number(values.flows)
const IDLE = Number(values.idle)

const sink = net.createServer((s) => {
  s.on('error', () => undefined)
  s.on('data', () => undefined)
  s.on('end', () => s.end('done'))
})
const echo = net.createServer((s) => {
  s.on('error', () => undefined)
  s.pipe(s)
})
const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
const sinkPort = await listen(sink)
const echoPort = await listen(echo)

const paths = makePki()
const pki = {
  cert: readFileSync(paths.certPath, 'utf8'),
  key: readFileSync(paths.keyPath, 'utf8'),
  ca: readFileSync(paths.caPath, 'utf8'),
}
const token = newToken('bench')
const edge = await TunnelEdge.start({
  cert: pki.cert,
  key: pki.key,
  tunnels: [{ id: 'bench', keys: [{ id: token.key, secret: token.secret.toString('base64url') }] }],
  maxFlowsPerTunnel: 100_000,
  log: () => undefined,
})
const connector = new TunnelConnector({
  edge: `localhost:${edge.address.port}`,
  token: formatToken(token),
  ingress: [
    { host: '127.0.0.1', port: sinkPort },
    { host: '127.0.0.1', port: echoPort },
  ],
  ca: pki.ca,
  maxFlows: 100_000,
  log: () => undefined,
}).start()
await connector.connected()

const direct = (port) =>
  new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
const tunnelled = async (port) => {
  const s = await edge.openFlow('bench', '127.0.0.1', port)
  s.setNoDelay(true)
  s.resume()
  return s
}

async function throughput(open) {
  const s = await open(sinkPort)
  const chunk = Buffer.alloc(64 * 1024, 7)
  const total = MIB * 1024 * 1024
  const started = performance.now()
  await new Promise((resolve, reject) => {
    let sent = 0
    s.once('error', reject)
    s.on('data', () => undefined)
    s.once('end', resolve)
    const pump = () => {
      while (sent < total) {
        sent += chunk.length
        if (!s.write(chunk)) return void s.once('drain', pump)
      }
      s.end()
    }
    pump()
  })
  s.destroy()
  return MIB / ((performance.now() - started) / 1000)
}

async function roundTrips(open) {
  const s = await open(echoPort)
  const times = []
  const message = Buffer.alloc(16, 1)
  for (let i = 0; i < ECHOES; i++) {
    const t0 = performance.now()
    await new Promise((resolve) => {
      let got = 0
      const onData = (d) => {
        got += d.length
        if (got >= 16) {
          s.off('data', onData)
          resolve()
        }
      }
      s.on('data', onData)
      s.write(message)
    })
    times.push(performance.now() - t0)
  }
  s.destroy()
  times.sort((a, b) => a - b)
  return { p50: times[Math.floor(times.length / 2)], p99: times[Math.floor(times.length * 0.99)] }
}

async function setups(open) {
  const started = performance.now()
  for (let i = 0; i < FLOWS; i++) {
    const s = await open(echoPort)
    s.destroy()
  }
  return FLOWS / ((performance.now() - started) / 1000)
}

async function idleMemory(open) {
  globalThis.gc?.()
  await new Promise((r) => setTimeout(r, 200))
  const before = process.memoryUsage().rss
  const sockets = []
  for (let i = 0; i < IDLE; i++) sockets.push(await open(echoPort))
  await new Promise((r) => setTimeout(r, 500))
  globalThis.gc?.()
  const after = process.memoryUsage().rss
  for (const s of sockets) s.destroy()
  // Both ends of every flow live in this process (edge and connector), as do the service's.
  return (after - before) / IDLE
}

// Head-of-line: a 16-byte message sent after 8 MiB of bulk data were queued, on the bulk's own
// connection (a shared connection) or on a flow of its own (one connection per flow).
async function headOfLine() {
  const bulk = await tunnelled(sinkPort)
  const queued = Buffer.alloc(8 * 1024 * 1024, 3)
  const ownFlow = await tunnelled(echoPort)
  bulk.write(queued)
  const t0 = performance.now()
  await new Promise((resolve) => {
    ownFlow.once('data', resolve)
    ownFlow.write(Buffer.alloc(16, 1))
  })
  const separate = performance.now() - t0
  bulk.destroy()
  ownFlow.destroy()
  // The same message behind the same bulk on one connection: it arrives when the bulk has.
  const shared = await tunnelled(echoPort)
  const hash = createHash('sha256')
  let got = 0
  const t1 = performance.now()
  await new Promise((resolve) => {
    shared.on('data', (d) => {
      hash.update(d)
      got += d.length
      if (got >= queued.length + 16) resolve()
    })
    shared.write(queued)
    shared.write(Buffer.alloc(16, 1))
  })
  const sharedMs = performance.now() - t1
  shared.destroy()
  return { separate, shared: sharedMs }
}

const rows = []
const pair = async (name, fn, unit, better = 'higher') => {
  const d = await fn(direct)
  const t = await fn(tunnelled)
  rows.push({ name, direct: d, tunnel: t, unit, better })
}
await pair('throughput', throughput, 'MiB/s')
const rtDirect = await roundTrips(direct)
const rtTunnel = await roundTrips(tunnelled)
await pair('flow setup', setups, 'flows/s')
await pair('memory per idle flow', idleMemory, 'bytes', 'lower')
const hol = await headOfLine()

const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(3))
console.log(
  `# @wharf/tunnel vs direct loopback (node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')})\n`
)
console.log('| figure | direct | tunnel | ratio |\n|---|---|---|---|')
for (const r of rows)
  console.log(
    `| ${r.name} (${r.unit}) | ${fmt(r.direct)} | ${fmt(r.tunnel)} | ${(r.tunnel / r.direct).toFixed(2)}x |`
  )
console.log(
  `| 16-byte echo p50 (ms) | ${fmt(rtDirect.p50)} | ${fmt(rtTunnel.p50)} | +${((rtTunnel.p50 - rtDirect.p50) * 1000).toFixed(0)} µs |`
)
console.log(
  `| 16-byte echo p99 (ms) | ${fmt(rtDirect.p99)} | ${fmt(rtTunnel.p99)} | +${((rtTunnel.p99 - rtDirect.p99) * 1000).toFixed(0)} µs |`
)
console.log(
  `\nHead-of-line: a 16-byte echo sent behind 8 MiB of queued bulk data took ${hol.separate.toFixed(2)} ms on its own flow, ${hol.shared.toFixed(2)} ms on the bulk's connection.`
)

connector.stop()
await edge.close()
sink.close()
echo.close()
