#!/usr/bin/env node
// The dial mechanisms alone, without HTTP or a Worker: a child in its own network namespace
// (`unshare --net`, loopback up) opens N connections to a loopback echo service through the
// supervisor's broker, one small round trip each, K in flight, by one of:
//   ipc   a dial request on the IPC channel, the connected descriptor passed back (the old path)
//   tcp   the dial relay over the namespace's loopback (dial-relay.ts)
//   unix  the same relay over an abstract Unix socket of the namespace
// and prints user+sys CPU per dial of the parent and of the child, rounds alternated.
// Usage: node bench/host/dial-ab.mjs [--dials 3000] [--inflight 8] [--rounds 5] [--bulk MiB]
// (needs `npx tsc -b packages/host`; as root or with unprivileged user namespaces)
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const dist = (p) => new URL(`../../packages/host/dist/${p}`, import.meta.url).href
const { values } = parseArgs({
  options: {
    dials: { type: 'string', default: '3000' },
    inflight: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    // Instead of small round trips: one connection that receives this many MiB.
    bulk: { type: 'string' },
    child: { type: 'string' },
  },
})

if (values.child !== undefined) await runChild(values.child)
else await runParent()

async function runParent() {
  const { DialBroker } = await import(dist('broker.js'))
  const { DialRelay } = await import(dist('dial-relay.js'))
  const { createHostPolicy } = await import(dist('egress.js'))
  const { which } = await import(dist('sandbox.js'))
  const bulk = values.bulk === undefined ? 0 : Number(values.bulk) * 1024 * 1024
  const echo = net.createServer((socket) => {
    socket.on('error', () => undefined)
    if (bulk > 0) {
      const chunk = Buffer.alloc(64 * 1024, 1)
      let left = bulk
      const pump = () => {
        while (left > 0) {
          left -= chunk.length
          if (!socket.write(chunk)) return void socket.once('drain', pump)
        }
        socket.end()
      }
      pump()
      return
    }
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('end', () => socket.end())
  })
  await new Promise((r) => echo.listen(0, '127.0.0.1', r))
  const echoPort = echo.address().port
  const ip = which('ip')
  const policy = createHostPolicy({
    egress: { allow: ['127.0.0.1/32'], deny: [] },
    exceptions: [],
    hostAddresses: [],
    onDenied: () => undefined,
  })
  const rows = { ipc: [], tcp: [], unix: [] }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of ['ipc', 'tcp', 'unix']) {
      const broker = new DialBroker(policy, { connectTimeoutMs: 5000, maxPendingDials: 1024 })
      const secret = randomBytes(32)
      const child = fork(
        fileURLToPath(import.meta.url),
        ['--child', mode, ...process.argv.slice(2)],
        {
          execPath: 'unshare',
          execArgv: [
            '--net',
            'sh',
            '-c',
            `${ip} link set lo up && exec "$0" "$@"`,
            process.execPath,
          ],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }
      )
      let relay
      const cpu0 = process.cpuUsage()
      const result = await new Promise((resolve, reject) => {
        child.on('message', (message, handle) => {
          if (message.t === 'dial') {
            void broker.handle(message, (answer, socket) =>
              child.send(answer, socket, () => socket?.destroy())
            )
          } else if (message.t === 'relay') {
            relay = new DialRelay(handle, secret, (req, reply) => void broker.handle(req, reply), {
              headerTimeoutMs: 5000,
              maxHandshakes: 256,
              maxRelays: 4096,
            })
            child.send({ t: 'go', secret: secret.toString('hex'), port: echoPort })
          } else if (message.t === 'ready') {
            child.send({ t: 'go', secret: secret.toString('hex'), port: echoPort })
          } else if (message.t === 'done') resolve(message)
        })
        child.once('exit', (code) => reject(new Error(`child exited ${code}`)))
      })
      const parent = process.cpuUsage(cpu0)
      relay?.close()
      child.kill()
      const n = result.n
      const row = {
        parent: (parent.user + parent.system) / n,
        child: result.cpu / n,
        perSecond: n / (result.ms / 1000),
        load: loadavg()[0].toFixed(2),
      }
      rows[mode].push(row)
      console.log(
        `round ${round + 1} ${mode.padEnd(4)} parent ${row.parent.toFixed(0)} us, child ${row.child.toFixed(0)} us per ${bulk ? 'MiB' : 'dial'}; ${row.perSecond.toFixed(0)}/s; load ${row.load}`
      )
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  for (const [mode, r] of Object.entries(rows)) {
    console.log(
      `median ${mode.padEnd(4)} parent ${median(r.map((x) => x.parent)).toFixed(0)} us + child ${median(r.map((x) => x.child)).toFixed(0)} us = ${median(r.map((x) => x.parent + x.child)).toFixed(0)} us; ${median(r.map((x) => x.perSecond)).toFixed(0)}/s`
    )
  }
  echo.close()
}

async function runChild(mode) {
  const { dial, onDialReply } = await import(dist('runtime/dial-client.js'))
  const relayClient = await import(dist('runtime/relay-client.js'))
  process.on('message', (m, h) => onDialReply(m, h))
  let dialer = dial
  const go = new Promise((resolve) => process.on('message', (m) => m.t === 'go' && resolve(m)))
  let relayPort = 0
  if (mode === 'ipc') process.send({ t: 'ready' })
  else {
    const server = await relayClient.listenForRelay(mode === 'unix')
    relayPort = typeof server.address() === 'object' ? server.address().port : 0
    await new Promise((r) => process.send({ t: 'relay', ok: true }, server, {}, r))
    server.close()
  }
  const { secret, port } = await go
  if (mode !== 'ipc') {
    const relayed = relayClient.relayDialer(relayPort, Buffer.from(secret, 'hex'), 5000)
    dialer = (target) => relayed(target)
  }
  const bulk = values.bulk === undefined ? 0 : Number(values.bulk)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let n = 0
  if (bulk > 0) {
    const socket = await dialer({ hostname: '127.0.0.1', port })
    socket.resume()
    await new Promise((r) => socket.once('end', r))
    socket.destroy()
    n = bulk
  } else {
    const total = Number(values.dials)
    const one = async () => {
      while (n < total) {
        n++
        const socket = await dialer({ hostname: '127.0.0.1', port })
        socket.setNoDelay(true)
        await new Promise((resolve, reject) => {
          socket.once('data', () => {
            socket.end()
            resolve()
          })
          socket.once('error', reject)
          socket.resume()
          socket.write('ping')
        })
        await new Promise((r) => (socket.destroyed ? r() : socket.once('close', r)))
      }
    }
    await Promise.all(Array.from({ length: Number(values.inflight) }, one))
  }
  const used = process.cpuUsage(cpu0)
  process.send({ t: 'done', n, cpu: used.user + used.system, ms: performance.now() - t0 })
}
