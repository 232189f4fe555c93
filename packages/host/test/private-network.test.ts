// A Worker under `wharf dev` reaches a PostgreSQL and an echo service in a private network (a
// network namespace this test creates, with an address the host has no route to) only through a
// real `wharf tunnel run` connector inside that network: the database through a hyperdrive
// binding whose origin is a tcp VPC service, the echo service through env.NET.connect().
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { formatToken, newToken } from '@wharf/tunnel'
import { testPki } from '../../../test-support/certs.js'
import {
  canMakeNamespaces,
  createPrivateNetwork,
  type PrivateNetwork,
} from '../../../test-support/netns.js'
import { startPostgres, type PostgresServer } from '../../../test-support/postgres.js'
import { BIN, ROOT, get, startWharf, tempProject, type Wharf } from './helpers.js'

const WORKER = (pgPath: string): string => `
import pg from ${JSON.stringify(pgPath)}
import { connect } from 'cloudflare:sockets'

export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const target = url.searchParams.get('to')
    try {
      if (url.pathname === '/db') {
        const client = new pg.Client({ connectionString: env.DB.connectionString })
        await client.connect()
        try {
          const server = await client.query('SELECT host(inet_server_addr()) AS addr')
          const greeting = await client.query('SELECT text FROM greetings')
          return Response.json({ ...greeting.rows[0], ...server.rows[0] })
        } finally {
          await client.end()
        }
      }
      const socket = url.pathname === '/net' ? env.NET.connect(target) : connect(target)
      await socket.opened
      const writer = socket.writable.getWriter()
      await writer.write(new TextEncoder().encode('hello, private network'))
      const { value } = await socket.readable.getReader().read()
      await socket.close()
      return new Response(new TextDecoder().decode(value))
    } catch (error) {
      return new Response(String(error.message), { status: 502 })
    }
  },
}
`

describe(
  'a Worker reaches a private network only through the tunnel',
  { skip: canMakeNamespaces ? false : 'needs root and ip netns' },
  () => {
    let network: PrivateNetwork
    let postgres: PostgresServer
    let services: ChildProcess
    let servicesOut = ''
    let echoPort: number
    let connector: ChildProcess
    let connectorOut = ''
    let wharf: Wharf
    let project: ReturnType<typeof tempProject>

    before(async () => {
      network = createPrivateNetwork()
      const { privateAddress, hostSide } = network
      postgres = await startPostgres({ netns: network.ns, host: privateAddress })
      postgres.psql(
        "CREATE TABLE greetings (text text); INSERT INTO greetings VALUES ('from inside the private network')"
      )
      services = spawn(
        'ip',
        network.exec(
          process.execPath,
          join(ROOT, 'test-support', 'private-services.mjs'),
          privateAddress
        ),
        { stdio: ['pipe', 'pipe', 'pipe'] }
      )
      const ready = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('services did not start')), 15_000)
        services.stdout?.on('data', (chunk: Buffer) => {
          servicesOut += chunk.toString()
          const line = /ready (\{.*\})/.exec(servicesOut)
          if (line?.[1] !== undefined) {
            clearTimeout(timer)
            resolve(line[1])
          }
        })
      })
      echoPort = (JSON.parse(ready) as { echoPort: number }).echoPort

      const pki = testPki()
      const edgeCert = pki.issue('wharf-dev-edge', [`IP:${hostSide}`])
      const token = newToken('office')
      project = tempProject({
        'worker.js': WORKER(createRequire(import.meta.url).resolve('pg')),
        'edge.pem': edgeCert.cert,
        'edge.key': edgeCert.key,
        'ingress.json': JSON.stringify({
          ingress: [
            { host: privateAddress, port: echoPort },
            { host: privateAddress, port: postgres.port },
          ],
        }),
      })
      writeFileSync(
        join(project.dir, 'wrangler.json'),
        JSON.stringify({
          name: 'private-network',
          main: 'worker.js',
          compatibility_date: '2026-11-01',
          compatibility_flags: ['nodejs_compat'],
          vpc_networks: [{ binding: 'NET', tunnel_id: 'office' }],
          hyperdrive: [
            {
              binding: 'DB',
              id: 'db',
              localConnectionString: `${postgres.connectionString}?sslmode=disable`,
            },
          ],
          wharf: {
            hyperdrive: { DB: { service_id: 'db' } },
            tunnels: {
              listen: `${hostSide}:0`,
              cert: 'edge.pem',
              key: 'edge.key',
              tunnels: [{ id: 'office', keys: [{ id: token.key, secret_env: 'OFFICE_SECRET' }] }],
              services: [
                {
                  id: 'db',
                  tunnel_id: 'office',
                  type: 'tcp',
                  host: privateAddress,
                  tcp_port: postgres.port,
                },
              ],
            },
          },
        })
      )
      process.env.OFFICE_SECRET = token.secret.toString('base64url')
      // Even allowed by the egress policy, a direct connect has no route to the private address.
      wharf = await startWharf(project.dir, ['--no-watch', '--allow', `${privateAddress}/32`])
      const edge = await wharf.waitFor(/edge listening on [\d.]+:(\d+)/)
      connector = spawn(
        'ip',
        network.exec(
          process.execPath,
          BIN,
          'tunnel',
          'run',
          '--edge',
          `${hostSide}:${edge[1] ?? ''}`,
          '--config',
          join(project.dir, 'ingress.json'),
          '--ca',
          pki.caPath
        ),
        {
          env: { ...process.env, WHARF_TUNNEL_TOKEN: formatToken(token) },
          stdio: ['ignore', 'pipe', 'pipe'],
        }
      )
      connector.stdout?.on('data', (c: Buffer) => (connectorOut += c.toString()))
      connector.stderr?.on('data', (c: Buffer) => (connectorOut += c.toString()))
      await wharf.waitFor(/connector joined tunnel office/)
    })

    after(async () => {
      connector?.kill('SIGKILL')
      services?.kill('SIGKILL')
      await wharf?.stop()
      await postgres?.stop()
      network?.remove()
      project?.remove()
      delete process.env.OFFICE_SECRET
    })

    test('a direct connect to the private address fails and reaches nothing', async () => {
      const reply = await get(`${wharf.url}/direct?to=${network.privateAddress}:${echoPort}`)
      assert.equal(reply.status, 502, reply.body)
      assert.doesNotMatch(servicesOut, /conn echo/, 'nothing reached the echo service')
    })

    test('env.NET.connect() reaches the echo service through the connector', async () => {
      const reply = await get(`${wharf.url}/net?to=${network.privateAddress}:${echoPort}`)
      assert.equal(reply.status, 200, reply.body + connectorOut)
      assert.equal(reply.body, 'hello, private network')
      assert.match(servicesOut, /conn echo/)
    })

    test('pg through env.DB reaches PostgreSQL inside the network; the second read is cached', async () => {
      for (let i = 0; i < 2; i++) {
        const reply = await get(`${wharf.url}/db`)
        assert.equal(reply.status, 200, reply.body + wharf.output().slice(-3000))
        assert.deepEqual(JSON.parse(reply.body), {
          text: 'from inside the private network',
          addr: network.privateAddress,
        })
      }
      await wharf.waitFor(/DB: 1 query result\(s\) served from the cache/)
      assert.match(wharf.output(), /hyperdrive binding DB: .*VPC service db \(tunnel office\)/)
    })
  }
)
