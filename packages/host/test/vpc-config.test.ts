// The private-network part of a Worker's config: vpc_networks, vpc_services, wharf.tunnels and a
// hyperdrive origin behind a VPC service. Bad input names its field (ERR_WHARF_CONFIG).
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { loadConfig } from '../src/config.js'
import { runWharf, tempProject } from './helpers.js'
import { testPki } from '../../../test-support/certs.js'

const TUNNELS = {
  listen: '127.0.0.1:7843',
  cert: 'edge.pem',
  key: 'edge.key',
  tunnels: [{ id: 'office', keys: [{ id: 'k1', secret_env: 'OFFICE_SECRET' }] }],
  services: [
    { id: 'intranet', tunnel_id: 'office', type: 'http', host: '10.0.0.5', http_port: 8080 },
    { id: 'db', tunnel_id: 'office', type: 'tcp', host: '10.0.0.6', tcp_port: 5432 },
  ],
}

function load(config: Record<string, unknown>): ReturnType<typeof loadConfig> {
  const project = tempProject({ 'worker.js': 'export default { fetch: () => new Response("") }' })
  try {
    writeFileSync(
      join(project.dir, 'wrangler.json'),
      JSON.stringify({ main: 'worker.js', compatibility_date: '2026-11-01', ...config })
    )
    return loadConfig(project.dir)
  } finally {
    project.remove()
  }
}

function rejects(config: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => load(config), { code: 'ERR_WHARF_CONFIG', message })
}

describe('vpc config', () => {
  it('reads bindings, tunnels and services in their Cloudflare shapes', () => {
    const config = load({
      vpc_networks: [{ binding: 'NET', tunnel_id: 'office' }],
      vpc_services: [{ binding: 'INTRANET', service_id: 'intranet' }],
      wharf: { tunnels: TUNNELS },
    })
    assert.deepEqual(config.vpc.networks, [{ binding: 'NET', tunnel: 'office' }])
    assert.deepEqual(config.vpc.services, [{ binding: 'INTRANET', service: 'intranet' }])
    assert.equal(config.vpc.tunnels?.port, 7843)
    assert.deepEqual(
      config.vpc.tunnels?.services.map((s) => [s.id, s.type, s.host, s.port]),
      [
        ['intranet', 'http', '10.0.0.5', 8080],
        ['db', 'tcp', '10.0.0.6', 5432],
      ]
    )
  })

  it('a hyperdrive binding takes a tcp VPC service as its origin', () => {
    const config = load({
      hyperdrive: [{ binding: 'DB', id: 'x', localConnectionString: 'postgres://u@db/app' }],
      wharf: {
        tunnels: TUNNELS,
        hyperdrive: { DB: { service_id: 'db', caching: { disabled: true } } },
      },
    })
    assert.equal(config.hyperdrive[0]?.originService, 'db')
    assert.equal(config.hyperdrive[0]?.caching.disabled, true)
  })

  it('refuses a hyperdrive origin that is not a tcp service, naming the field', () => {
    const hyperdrive = [{ binding: 'DB', id: 'x', localConnectionString: 'postgres://u@db/app' }]
    rejects(
      { hyperdrive, wharf: { tunnels: TUNNELS, hyperdrive: { DB: { service_id: 'intranet' } } } },
      /wharf\.hyperdrive\.DB\.service_id.*no tcp service.*"intranet"/
    )
    rejects(
      { hyperdrive, wharf: { tunnels: TUNNELS, hyperdrive: { DB: { service_id: 'nope' } } } },
      /wharf\.hyperdrive\.DB\.service_id.*"nope"/
    )
    rejects(
      { hyperdrive, wharf: { hyperdrive: { DB: { service_id: 'db' } } } },
      /wharf\.hyperdrive\.DB\.service_id/
    )
    rejects(
      { hyperdrive, wharf: { tunnels: TUNNELS, hyperdrive: { DB: { service_id: 7 } } } },
      /wharf\.hyperdrive\.DB\.service_id.*must name/
    )
  })

  it('names the field of every other mistake', () => {
    rejects({ vpc_networks: [{ binding: 'NET', tunnel_id: 'office' }] }, /needs wharf\.tunnels/)
    rejects(
      {
        vpc_networks: [{ binding: 'NET', network_id: 'cf-net' }],
        wharf: { tunnels: TUNNELS },
      },
      /vpc_networks\[0\]\.network_id.*tunnel_id/
    )
    rejects(
      { vpc_networks: [{ binding: 'NET', tunnel_id: 'home' }], wharf: { tunnels: TUNNELS } },
      /vpc_networks\[0\]\.tunnel_id.*"home"/
    )
    rejects(
      { vpc_services: [{ binding: 'X', service_id: 'missing' }], wharf: { tunnels: TUNNELS } },
      /vpc_services\[0\]\.service_id.*"missing"/
    )
    rejects(
      { wharf: { tunnels: { ...TUNNELS, listen: 'nowhere' } } },
      /wharf\.tunnels\.listen.*HOST:PORT/
    )
    rejects(
      {
        wharf: {
          tunnels: {
            ...TUNNELS,
            services: [{ id: 'db', tunnel_id: 'office', type: 'tcp', host: '10.0.0.6' }],
          },
        },
      },
      /wharf\.tunnels\.services\[0\]\.tcp_port/
    )
    rejects(
      { wharf: { tunnels: { ...TUNNELS, tunnels: [{ id: 'office', keys: [] }] } } },
      /wharf\.tunnels\.tunnels\[0\]\.keys.*at least one key/
    )
  })
})

describe('the tunnel edge listener', () => {
  it('an address in use fails fast: exit 1 with ERR_WHARF_TUNNEL, no hang', async () => {
    const busy = net.createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const port = (busy.address() as net.AddressInfo).port
    const pki = testPki()
    const project = tempProject({ 'worker.js': 'export default { fetch: () => new Response("") }' })
    writeFileSync(
      join(project.dir, 'wrangler.json'),
      JSON.stringify({
        main: 'worker.js',
        compatibility_date: '2026-11-01',
        vpc_networks: [{ binding: 'NET', tunnel_id: 'office' }],
        wharf: {
          tunnels: {
            ...TUNNELS,
            listen: `127.0.0.1:${port}`,
            cert: pki.localhost.certPath,
            key: pki.localhost.keyPath,
            tunnels: [{ id: 'office', keys: [{ id: 'k1', secret: 'A'.repeat(43) }] }],
          },
        },
      })
    )
    try {
      for (const command of ['dev', 'serve']) {
        const started = performance.now()
        const result = await runWharf([command, project.dir, '--port', '0'], 20_000)
        assert.equal(result.code, 1, result.stderr)
        assert.match(
          result.stderr,
          new RegExp(`ERR_WHARF_TUNNEL.*127\\.0\\.0\\.1:${port}.*EADDRINUSE`)
        )
        assert.ok(performance.now() - started < 15_000, `${command} took too long to fail`)
      }
    } finally {
      busy.close()
      project.remove()
    }
  })
})
