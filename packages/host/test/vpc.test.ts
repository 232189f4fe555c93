// vpc_networks and vpc_services under `wharf dev` and `wharf serve`: a Worker reaches services
// through the tunnel (a real connector, its own ingress rules), and only through it; a service
// binding goes to its configured host whatever the URL names; a hyperdrive binding's origin can be
// a tcp VPC service; fetch() through a binding counts toward the request's connection limit; a
// refused flow is logged (and counted, under serve) with the tunnel's name.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { TunnelConnector, formatToken, newToken } from '@wharf/tunnel'
import { testPki } from '../../../test-support/certs.js'
import { startPostgres, type PostgresServer } from '../../../test-support/postgres.js'
import { startServed } from './serve-helpers.js'
import { echoServer, get, startWharf, tempProject } from './helpers.js'

const WORKER = (pgPath: string): string => `
import pg from ${JSON.stringify(pgPath)}

export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const target = url.searchParams.get('to')
    if (url.pathname === '/net') {
      const socket = env.NET.connect(target)
      try {
        const info = await socket.opened
        const writer = socket.writable.getWriter()
        await writer.write(new TextEncoder().encode('through the tunnel'))
        const { value } = await socket.readable.getReader().read()
        return Response.json({ echoed: new TextDecoder().decode(value), remoteAddress: info.remoteAddress })
      } catch (error) {
        return Response.json({ error: String(error.message) }, { status: 502 })
      } finally {
        await socket.close().catch(() => {})
      }
    }
    if (url.pathname === '/direct') {
      const { connect } = await import('cloudflare:sockets')
      const socket = connect(target)
      try {
        await socket.opened
        return Response.json({ reached: true })
      } catch (error) {
        return Response.json({ error: String(error.message) }, { status: 502 })
      }
    }
    if (url.pathname === '/service') {
      const response = await env.INTRANET.fetch('http://whatever.example/report?x=1')
      return new Response(await response.text(), { status: response.status })
    }
    if (url.pathname === '/fetch7') {
      // Seven fetches through the binding at once: six may wait for headers, the seventh queues.
      const replies = await Promise.all(
        Array.from({ length: 7 }, (_, i) => env.NET.fetch('http://' + target + '/hold?i=' + i))
      )
      return Response.json(await Promise.all(replies.map((r) => r.text())))
    }
    if (url.pathname === '/db') {
      const client = new pg.Client({ connectionString: env.DB.connectionString })
      await client.connect()
      try {
        const { rows } = await client.query('SELECT text, inet_server_port() AS port FROM greetings')
        return Response.json(rows[0])
      } finally {
        await client.end()
      }
    }
    if (url.pathname === '/service-connect') {
      try { env.INTRANET.connect('x:1'); return new Response('no error') } catch (e) { return new Response(e.message, { status: 500 }) }
    }
    return new Response('not found', { status: 404 })
  },
}
`

interface Host {
  readonly url: string
  readonly admin?: string | undefined
  output(): string
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  stop(): Promise<unknown>
}

/** A project with every kind of VPC binding, a host running it, and a real connector. */
async function setUp(start: (dir: string) => Promise<Host>) {
  const echo = await echoServer()
  const outside = await echoServer()
  const webHits: string[] = []
  const web = http.createServer((req, res) => {
    webHits.push(`${req.headers.host ?? ''} ${req.url ?? ''}`)
    res.end(`intranet saw ${req.url ?? ''}`)
  })
  // Answers each request after 1.5 s (long enough for six flows to open on a busy machine), and
  // records how many were open at once.
  let holding = 0
  let maxHolding = 0
  const slow = http.createServer((req, res) => {
    holding++
    maxHolding = Math.max(maxHolding, holding)
    setTimeout(() => {
      holding--
      res.end(req.url ?? '')
    }, 1_500)
  })
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
  const webPort = (web.address() as AddressInfo).port
  const slowPort = (slow.address() as AddressInfo).port
  const pg: PostgresServer = await startPostgres()
  pg.psql(
    "CREATE TABLE greetings (text text); INSERT INTO greetings VALUES ('from the private database')"
  )
  const pki = testPki()
  const token = newToken('office')
  const project = tempProject({
    'worker.js': WORKER(createRequire(import.meta.url).resolve('pg')),
  })
  writeFileSync(
    join(project.dir, 'wrangler.json'),
    JSON.stringify({
      name: 'vpc',
      main: 'worker.js',
      compatibility_date: '2026-11-01',
      compatibility_flags: ['nodejs_compat'],
      vpc_networks: [{ binding: 'NET', tunnel_id: 'office' }],
      vpc_services: [{ binding: 'INTRANET', service_id: 'intranet' }],
      // The URL's host names nothing reachable: the origin is the VPC service.
      hyperdrive: [
        {
          binding: 'DB',
          id: 'db',
          localConnectionString:
            pg.connectionString.replace(/@[^/]+\//, '@db.internal.invalid:5432/') +
            '?sslmode=disable',
        },
      ],
      wharf: {
        hyperdrive: { DB: { service_id: 'db', caching: { disabled: true } } },
        tunnels: {
          listen: '127.0.0.1:0',
          cert: pki.localhost.certPath,
          key: pki.localhost.keyPath,
          tunnels: [{ id: 'office', keys: [{ id: token.key, secret_env: 'OFFICE_SECRET' }] }],
          services: [
            {
              id: 'intranet',
              tunnel_id: 'office',
              type: 'http',
              host: '127.0.0.1',
              http_port: webPort,
            },
            { id: 'db', tunnel_id: 'office', type: 'tcp', host: '127.0.0.1', tcp_port: pg.port },
          ],
        },
      },
    })
  )
  process.env.OFFICE_SECRET = token.secret.toString('base64url')
  const host = await start(project.dir)
  const edge = await host.waitFor(/edge listening on 127\.0\.0\.1:(\d+)/)
  const connector = new TunnelConnector({
    edge: `localhost:${edge[1] ?? ''}`,
    token: formatToken(token),
    ingress: [
      { host: '127.0.0.1', port: echo.port },
      { host: '127.0.0.1', port: webPort },
      { host: '127.0.0.1', port: slowPort },
      { host: '127.0.0.1', port: pg.port },
    ],
    ca: pki.ca,
    log: () => undefined,
  }).start()
  await connector.connected()
  return {
    host,
    echo,
    outside,
    webHits,
    slowPort,
    maxHolding: () => maxHolding,
    pg,
    async tearDown(): Promise<void> {
      connector.stop()
      await host.stop()
      await echo.close()
      await outside.close()
      web.close()
      slow.close()
      await pg.stop()
      project.remove()
      delete process.env.OFFICE_SECRET
    },
  }
}

describe('vpc_networks and vpc_services through a tunnel (wharf dev)', () => {
  let t: Awaited<ReturnType<typeof setUp>>
  let wharf: Host

  before(async () => {
    t = await setUp((dir) => startWharf(dir))
    wharf = t.host
  })

  after(async () => {
    await t?.tearDown()
  })

  test('env.NET.connect() reaches an allowed service through the tunnel', async () => {
    const reply = await get(`${wharf.url}/net?to=127.0.0.1:${t.echo.port}`)
    assert.equal(reply.status, 200, reply.body)
    const body = JSON.parse(reply.body) as { echoed: string; remoteAddress: string }
    assert.equal(body.echoed, 'through the tunnel')
    assert.equal(body.remoteAddress, `127.0.0.1:${t.echo.port}`)
    assert.equal(t.echo.conns.length, 1)
  })

  test("the connector's rules refuse what they do not name, logged with the tunnel; a direct connect is refused by the egress policy", async () => {
    const viaTunnel = await get(`${wharf.url}/net?to=127.0.0.1:${t.outside.port}`)
    assert.equal(viaTunnel.status, 502)
    await wharf.waitFor(
      new RegExp(`flow denied: tunnel office, binding NET, 127\\.0\\.0\\.1:${t.outside.port}: `)
    )
    const direct = await get(`${wharf.url}/direct?to=127.0.0.1:${t.echo.port}`)
    assert.equal(direct.status, 502)
    assert.equal(t.outside.conns.length, 0, 'the service outside the ingress rules saw nothing')
    assert.equal(t.echo.conns.length, 1, 'the direct connect never reached the service')
    // The broker's denial line may be printed after the 502 reached the test.
    await wharf.waitFor(/denied/)
    assert.doesNotMatch(wharf.output(), /"vpc_networks" is read but has no effect/)
  })

  test('env.INTRANET.fetch() goes to the configured service whatever the URL names; connect() is refused', async () => {
    const reply = await get(`${wharf.url}/service`)
    assert.equal(reply.status, 200, reply.body)
    assert.equal(reply.body, 'intranet saw /report?x=1')
    assert.deepEqual(t.webHits, ['whatever.example /report?x=1'])
    const refused = await get(`${wharf.url}/service-connect`)
    assert.equal(refused.status, 500)
    assert.match(refused.body, /VPC service binding: use fetch\(\)/)
  })

  test('fetch() through a binding counts toward the six connections of a request', async () => {
    const reply = await get(`${wharf.url}/fetch7?to=127.0.0.1:${t.slowPort}`)
    assert.equal(reply.status, 200, reply.body)
    assert.equal((JSON.parse(reply.body) as string[]).length, 7)
    assert.equal(t.maxHolding(), 6, 'six fetches waited for headers at once, the seventh queued')
  })

  test("a hyperdrive binding's origin is a tcp VPC service, reached only through the tunnel", async () => {
    const reply = await get(`${wharf.url}/db`)
    assert.equal(reply.status, 200, reply.body + wharf.output().slice(-2000))
    assert.deepEqual(JSON.parse(reply.body), { text: 'from the private database', port: t.pg.port })
    assert.match(wharf.output(), /hyperdrive binding DB: .*VPC service db \(tunnel office\)/)
  })
})

describe('vpc bindings under wharf serve', () => {
  let t: Awaited<ReturnType<typeof setUp>>

  before(async () => {
    t = await setUp((dir) => startServed(dir, ['--processes', '1', '--admin-port', '0']))
  })

  after(async () => {
    await t?.tearDown()
  })

  test('a Worker reaches the tunnel and the VPC-service origin; /metrics counts flows by tunnel and the refusal is a denial', async () => {
    const net = await get(`${t.host.url}/net?to=127.0.0.1:${t.echo.port}`)
    assert.equal(net.status, 200, net.body + t.host.output().slice(-2000))
    const db = await get(`${t.host.url}/db`)
    assert.equal(db.status, 200, db.body + t.host.output().slice(-2000))
    assert.deepEqual(JSON.parse(db.body), { text: 'from the private database', port: t.pg.port })
    const refused = await get(`${t.host.url}/net?to=127.0.0.1:${t.outside.port}`)
    assert.equal(refused.status, 502)
    await t.host.waitFor(/tunnel office: flow of NET to 127\.0\.0\.1:\d+ denied: /)
    const metrics = await get(`${t.host.admin ?? ''}/metrics`)
    assert.match(metrics.body, /wharf_tunnel_flows_total\{tunnel="office",outcome="opened"\} [1-9]/)
    assert.match(metrics.body, /wharf_tunnel_flows_total\{tunnel="office",outcome="denied"\} 1/)
    assert.match(metrics.body, /wharf_egress_denials_total\{rule="tunnel:office"\} 1/)
  })
})
