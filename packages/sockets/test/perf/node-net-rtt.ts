// Round-trip cost of @wharf/sockets/node/net against raw node:net: sequential 64-byte
// request/echo round trips and one 32 MiB echo, on loopback. A brief measurement, not a
// benchmark suite: `npx tsx packages/sockets/test/perf/node-net-rtt.ts [roundTrips]`.
import rawNet from 'node:net'
import { once } from 'node:events'
import wharfNet from '../../src/node/net.js'
import { connect } from '../../src/index.js'
import { echoServer } from '../../../../test-support/servers.js'

interface NetLike {
  connect(port: number, host: string): rawNet.Socket
}

async function roundTrips(net: NetLike, port: number, n: number): Promise<number> {
  const s = net.connect(port, '127.0.0.1')
  await once(s, 'connect')
  const msg = Buffer.alloc(64, 97)
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    s.write(msg)
    let got = 0
    while (got < msg.length) {
      const [d] = (await once(s, 'data')) as [Buffer]
      got += d.length
    }
  }
  const ms = performance.now() - started
  s.destroy()
  return (ms * 1000) / n
}

async function bulk(net: NetLike, port: number, bytes: number): Promise<number> {
  const s = net.connect(port, '127.0.0.1')
  await once(s, 'connect')
  const chunk = Buffer.alloc(64 * 1024, 98)
  let got = 0
  const done = new Promise<void>((resolve) =>
    s.on('data', (d: Buffer) => {
      got += d.length
      if (got >= bytes) resolve()
    })
  )
  const started = performance.now()
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!s.write(chunk)) await once(s, 'drain')
  }
  await done
  const ms = performance.now() - started
  s.destroy()
  return bytes / 1024 / 1024 / (ms / 1000)
}

/** The same round trips on connect() itself (web streams), to split the cost by layer. */
async function connectRoundTrips(port: number, n: number): Promise<number> {
  const s = connect(`127.0.0.1:${port}`)
  await s.opened
  const w = s.writable.getWriter()
  const r = s.readable.getReader()
  const msg = new Uint8Array(64).fill(97)
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    await w.write(msg)
    let got = 0
    while (got < msg.length) {
      const { value, done } = await r.read()
      if (done) throw new Error('closed')
      got += value.length
    }
  }
  const ms = performance.now() - started
  await s.close()
  return (ms * 1000) / n
}

const n = Number(process.argv[2] ?? 2000)
const server = await echoServer()
try {
  const runtimes: [string, NetLike][] = [
    ['node:net', rawNet],
    ['@wharf/sockets/node/net', wharfNet as unknown as NetLike],
  ]
  for (const [name, net] of runtimes) {
    await roundTrips(net, server.port, 200) // warm-up
    const us = await roundTrips(net, server.port, n)
    const mibs = await bulk(net, server.port, 32 * 1024 * 1024)
    console.log(
      `${name.padEnd(24)} ${us.toFixed(1)} µs/round trip (n=${n})  ${mibs.toFixed(0)} MiB/s echo`
    )
  }
  await connectRoundTrips(server.port, 200)
  const us = await connectRoundTrips(server.port, n)
  console.log(`${'connect() (web streams)'.padEnd(24)} ${us.toFixed(1)} µs/round trip (n=${n})`)
} finally {
  server.server.close()
  await server.close()
}
