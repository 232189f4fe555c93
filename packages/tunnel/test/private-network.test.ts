// The "private network" is a network namespace this test creates: a veth pair links it to the
// host's namespace only for the connector's outbound connection to the edge, and the services
// listen on an address inside it that the host's namespace has no route to. The connector runs
// inside it, as a real `wharf tunnel run` process.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { testPki } from '../../../test-support/certs.js'
import {
  canMakeNamespaces,
  createPrivateNetwork,
  type PrivateNetwork,
} from '../../../test-support/netns.js'
import { TunnelEdge, formatToken, newToken } from '../src/index.js'
import { readAll, writeStream } from './helpers.js'

const root = join(import.meta.dirname, '..', '..', '..')
const wharf = join(root, 'packages', 'host', 'bin', 'wharf.js')
/** Lines a child prints, and a way to wait for one. */
function lines(child: ChildProcess): {
  all: string[]
  waitFor(pattern: RegExp, ms?: number): Promise<string>
} {
  const all: string[] = []
  let buffer = ''
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = []
  const onText = (chunk: Buffer): void => {
    buffer += chunk.toString()
    let i
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i)
      buffer = buffer.slice(i + 1)
      all.push(line)
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  }
  child.stdout?.on('data', onText)
  child.stderr?.on('data', onText)
  return {
    all,
    waitFor(pattern, ms = 15_000) {
      const found = all.find((l) => pattern.test(l))
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`no line matching ${pattern} within ${ms} ms:\n${all.join('\n')}`)),
          ms
        )
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) })
      })
    },
  }
}

function tryConnect(host: string, port: number, ms = 1_500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('timeout')
    }, ms)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(e.code ?? 'error')
    })
  })
}

describe(
  'a private network reached only through the tunnel',
  { skip: canMakeNamespaces ? false : 'needs root and ip netns' },
  () => {
    const children: ChildProcess[] = []
    let edge: TunnelEdge
    let services: ReturnType<typeof lines>
    let ports: { echoPort: number; webPort: number }
    let connectorArgs: string[]
    const env = { ...process.env }

    let network: PrivateNetwork
    let privateAddress: string
    let nsSide: string

    before(async () => {
      network = createPrivateNetwork()
      ;({ privateAddress, nsSide } = network)
      const ns = network.ns
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          join(import.meta.dirname, '..', '..', '..', 'test-support', 'private-services.mjs'),
          privateAddress,
        ],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        }
      )
      children.push(child)
      services = lines(child)
      ports = JSON.parse((await services.waitFor(/^ready /)).slice(6)) as typeof ports

      const pki = testPki()
      const hostSide = network.hostSide
      const edgeCert = pki.issue('tunnel-edge', [`IP:${hostSide}`])
      const token = newToken('office')
      edge = await TunnelEdge.start({
        host: hostSide,
        cert: edgeCert.cert,
        key: edgeCert.key,
        tunnels: [
          { id: 'office', keys: [{ id: token.key, secret: token.secret.toString('base64url') }] },
        ],
        log: () => undefined,
      })
      const ingress = join(pki.dir, `ingress-${process.pid}.json`)
      writeFileSync(
        ingress,
        JSON.stringify({
          ingress: [
            { host: privateAddress, port: ports.echoPort },
            { host: privateAddress, port: ports.webPort },
          ],
        })
      )
      env.WHARF_TUNNEL_TOKEN = formatToken(token)
      connectorArgs = [
        'netns',
        'exec',
        ns,
        process.execPath,
        wharf,
        'tunnel',
        'run',
        '--edge',
        `${hostSide}:${edge.address.port}`,
        '--config',
        ingress,
        '--ca',
        pki.caPath,
      ]
    })

    after(async () => {
      for (const c of children) c.kill('SIGKILL')
      await edge?.close()
      network?.remove()
    })

    const startConnector = (): ReturnType<typeof lines> & { child: ChildProcess } => {
      const child = spawn('ip', connectorArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      children.push(child)
      return Object.assign(lines(child), { child })
    }

    test('the host cannot reach the services directly', async () => {
      assert.notEqual(await tryConnect(privateAddress, ports.echoPort), 'connected')
      assert.equal(
        services.all.filter((l) => l.startsWith('conn ')).length,
        0,
        'no connection reached the services'
      )
    })

    test('through the tunnel: echo, HTTP, 16 MiB intact; a target outside the rules is refused; killing one connector fails only its flows', async () => {
      const a = startConnector()
      await a.waitFor(/connected to the edge/)
      const flow = await edge.openFlow('office', privateAddress, ports.echoPort)
      const [sent, got] = await Promise.all([writeStream(flow, 16 * 1024 * 1024), readAll(flow)])
      assert.equal(got.sha256, sent)
      assert.equal(got.bytes, 16 * 1024 * 1024)

      const web = await edge.openFlow('office', privateAddress, ports.webPort)
      web.write(`GET /hello HTTP/1.1\r\nhost: intranet\r\nconnection: close\r\n\r\n`)
      const reply = await readAll(web)
      assert.ok(reply.bytes > 0)

      await assert.rejects(
        edge.openFlow('office', privateAddress, 22),
        /ingress rules do not allow/
      )
      await assert.rejects(
        edge.openFlow('office', nsSide, ports.echoPort),
        /ingress rules do not allow/
      )

      const b = startConnector()
      await b.waitFor(/connected to the edge/)
      const deadline = Date.now() + 5_000
      while (edge.liveConnectors('office') < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      assert.equal(edge.liveConnectors('office'), 2)
      // Long transfers on both connectors, then kill -9 one of them mid-transfer.
      const flows = await Promise.all(
        [0, 1, 2, 3].map(() => edge.openFlow('office', privateAddress, ports.echoPort))
      )
      const outcomes = flows.map((f) => {
        const digest = createHash('sha256')
        let bytes = 0
        f.on('data', (d: Buffer) => {
          digest.update(d)
          bytes += d.length
        })
        f.resume()
        const chunk = Buffer.alloc(16 * 1024, 1)
        const timer = setInterval(() => f.write(chunk), 5)
        // A flow of the killed connector ends before this side ends it, by a reset or, when the
        // connector's buffers happened to be empty at the kill, by a FIN the kernel sends for
        // it: either way it is cut. One that lives until this side's end() is whole.
        let endedHere = false
        return new Promise<'ok' | 'cut'>((resolve) => {
          f.once('close', () => {
            clearInterval(timer)
            resolve(endedHere && bytes > 0 && f.readableEnded ? 'ok' : 'cut')
          })
          f.once('error', () => undefined)
          setTimeout(() => {
            clearInterval(timer)
            endedHere = true
            f.end()
          }, 1_500)
        })
      })
      await new Promise((r) => setTimeout(r, 300))
      a.child.kill('SIGKILL')
      const killedAt = Date.now()
      const fresh = await edge.openFlow('office', privateAddress, ports.echoPort)
      assert.ok(Date.now() - killedAt < 1_000, 'a new flow opens within a second of the kill')
      fresh.write('after')
      fresh.end()
      assert.equal((await readAll(fresh)).bytes, 5)
      const results = await Promise.all(outcomes)
      assert.equal(
        results.filter((r) => r === 'cut').length,
        2,
        `only the killed connector's flows fail: ${results.join(',')}`
      )
      assert.equal(results.filter((r) => r === 'ok').length, 2)
      b.child.kill('SIGTERM')
    })
  }
)
