// vpc_networks and vpc_services under `wharf dev`: a Worker reaches services through the tunnel
// (a real connector, its own ingress rules), and only through it; a service binding goes to its
// configured host whatever the URL names.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { TunnelConnector, formatToken, newToken } from '@wharf/tunnel'
import { testPki } from '../../../test-support/certs.js'
import { echoServer, get, startWharf, tempProject, type TestServer, type Wharf } from './helpers.js'

const WORKER = `
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
    if (url.pathname === '/service-connect') {
      try { env.INTRANET.connect('x:1'); return new Response('no error') } catch (e) { return new Response(e.message, { status: 500 }) }
    }
    return new Response('not found', { status: 404 })
  },
}
`

describe('vpc_networks and vpc_services through a tunnel', () => {
  let project: ReturnType<typeof tempProject>
  let wharf: Wharf
  let echo: TestServer
  let outside: TestServer
  let web: http.Server
  let webHits: string[]
  let connector: TunnelConnector

  before(async () => {
    echo = await echoServer()
    outside = await echoServer()
    webHits = []
    web = http.createServer((req, res) => {
      webHits.push(`${req.headers.host ?? ''} ${req.url ?? ''}`)
      res.end(`intranet saw ${req.url ?? ''}`)
    })
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
    const webPort = (web.address() as AddressInfo).port
    const pki = testPki()
    const token = newToken('office')
    project = tempProject({ 'worker.js': WORKER })
    writeFileSync(
      join(project.dir, 'wrangler.json'),
      JSON.stringify({
        name: 'vpc',
        main: 'worker.js',
        compatibility_date: '2026-11-01',
        vpc_networks: [{ binding: 'NET', tunnel_id: 'office' }],
        vpc_services: [{ binding: 'INTRANET', service_id: 'intranet' }],
        wharf: {
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
            ],
          },
        },
      })
    )
    process.env.OFFICE_SECRET = token.secret.toString('base64url')
    wharf = await startWharf(project.dir)
    const edge = await wharf.waitFor(/edge listening on 127\.0\.0\.1:(\d+)/)
    connector = new TunnelConnector({
      edge: `localhost:${edge[1] ?? ''}`,
      token: formatToken(token),
      ingress: [
        { host: '127.0.0.1', port: echo.port },
        { host: '127.0.0.1', port: webPort },
      ],
      ca: pki.ca,
      log: () => undefined,
    }).start()
    await connector.connected()
  })

  after(async () => {
    connector?.stop()
    await wharf?.stop()
    await echo?.close()
    await outside?.close()
    web?.close()
    project?.remove()
    delete process.env.OFFICE_SECRET
  })

  test('env.NET.connect() reaches an allowed service through the tunnel', async () => {
    const reply = await get(`${wharf.url}/net?to=127.0.0.1:${echo.port}`)
    assert.equal(reply.status, 200, reply.body)
    const body = JSON.parse(reply.body) as { echoed: string; remoteAddress: string }
    assert.equal(body.echoed, 'through the tunnel')
    assert.equal(body.remoteAddress, `127.0.0.1:${echo.port}`)
    assert.equal(echo.conns.length, 1)
  })

  test("the connector's rules refuse what they do not name; a direct connect is refused by the egress policy", async () => {
    const viaTunnel = await get(`${wharf.url}/net?to=127.0.0.1:${outside.port}`)
    assert.equal(viaTunnel.status, 502)
    const direct = await get(`${wharf.url}/direct?to=127.0.0.1:${echo.port}`)
    assert.equal(direct.status, 502)
    assert.equal(outside.conns.length, 0, 'the service outside the ingress rules saw nothing')
    assert.equal(echo.conns.length, 1, 'the direct connect never reached the service')
    // The broker's denial line may be printed after the 502 reached the test.
    await wharf.waitFor(/denied/)
    assert.doesNotMatch(wharf.output(), /"vpc_networks" is read but has no effect/)
  })

  test('env.INTRANET.fetch() goes to the configured service whatever the URL names; connect() is refused', async () => {
    const reply = await get(`${wharf.url}/service`)
    assert.equal(reply.status, 200, reply.body)
    assert.equal(reply.body, 'intranet saw /report?x=1')
    assert.deepEqual(webHits, ['whatever.example /report?x=1'])
    const refused = await get(`${wharf.url}/service-connect`)
    assert.equal(refused.status, 500)
    assert.match(refused.body, /VPC service binding: use fetch\(\)/)
  })
})
