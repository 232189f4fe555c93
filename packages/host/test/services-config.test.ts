// Validation of `services`, `dispatch_namespaces`, `wharf.outbound`, `wharf.dispatch_namespace`,
// `wharf.tcp` and `limits.subrequests` (services/config.ts, config.ts): every bad
// field is ERR_WHARF_CONFIG naming the file and the field; good ones come through as read.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadConfig } from '../src/config.js'

const dir = mkdtempSync(join(tmpdir(), 'wharf-services-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))
writeFileSync(join(dir, 'worker.js'), 'export default { fetch() { return new Response("") } }\n')
writeFileSync(join(dir, 'outbound.js'), 'export default { fetch(r) { return fetch(r) } }\n')

function load(extra: Record<string, unknown>): ReturnType<typeof loadConfig> {
  const file = join(dir, 'wrangler.json')
  writeFileSync(file, JSON.stringify({ name: 'w', main: 'worker.js', ...extra }))
  return loadConfig(dir, file)
}

describe('services config', () => {
  it('reads bindings, an Outbound Worker and TCP listeners', () => {
    const config = load({
      services: [
        { binding: 'A', service: 'backend' },
        { binding: 'B', service: 'backend', entrypoint: 'Admin' },
      ],
      wharf: {
        outbound: { main: 'outbound.js', params: { TENANT: 't1' } },
        tcp: [{ port: 0 }, { port: 6380, ip: '::1', entrypoint: 'Redis' }],
      },
    })
    assert.deepEqual(config.services, {
      bindings: [
        { binding: 'A', service: 'backend' },
        { binding: 'B', service: 'backend', entrypoint: 'Admin' },
      ],
      dispatch: [],
      outbound: { main: join(dir, 'outbound.js'), params: { TENANT: 't1' } },
      tcp: [{ port: 0 }, { port: 6380, ip: '::1', entrypoint: 'Redis' }],
    })
    assert.deepEqual(config.ignored, [], 'services is a used field')
  })

  it('reads dispatch namespaces, namespace membership and limits.subrequests', () => {
    const config = load({
      dispatch_namespaces: [
        { binding: 'D', namespace: 'customers' },
        {
          binding: 'E',
          namespace: 'staging',
          outbound: { service: 'filter', parameters: ['TENANT'] },
        },
      ],
      limits: { subrequests: 50, cpu_ms: 100 },
      wharf: { dispatch_namespace: 'platform' },
    })
    assert.deepEqual(config.services.dispatch, [
      { binding: 'D', namespace: 'customers' },
      {
        binding: 'E',
        namespace: 'staging',
        outbound: { service: 'filter', parameters: ['TENANT'] },
      },
    ])
    assert.equal(config.services.namespace, 'platform')
    assert.equal(config.subrequests, 50)
    assert.deepEqual(config.ignored, ['limits.cpu_ms'], 'dev uses limits.subrequests only')
  })

  for (const [title, extra, pattern] of [
    ['a binding without a service', { services: [{ binding: 'A' }] }, /"services\[0\]\.service"/],
    [
      'a bad binding name',
      { services: [{ binding: '1x', service: 's' }] },
      /"services\[0\]\.binding"/,
    ],
    [
      'the same binding twice',
      {
        services: [
          { binding: 'A', service: 's' },
          { binding: 'A', service: 't' },
        ],
      },
      /binds A twice/,
    ],
    [
      'entrypoint "default"',
      { services: [{ binding: 'A', service: 's', entrypoint: 'default' }] },
      /"services\[0\]\.entrypoint"/,
    ],
    [
      'both service and main',
      { wharf: { outbound: { service: 's', main: 'outbound.js' } } },
      /exactly one of "service"/,
    ],
    [
      'a missing outbound module',
      { wharf: { outbound: { main: 'nope.js' } } },
      /"wharf\.outbound\.main" names a file that does not exist/,
    ],
    [
      'an unknown outbound field',
      { wharf: { outbound: { service: 's', dispatch: 'x' } } },
      /"wharf\.outbound\.dispatch" is not a known field/,
    ],
    [
      'a bad param name',
      { wharf: { outbound: { service: 's', params: { 'a-b': 1 } } } },
      /"wharf\.outbound\.params\.a-b"/,
    ],
    ['a port out of range', { wharf: { tcp: [{ port: 70000 }] } }, /"wharf\.tcp\[0\]\.port"/],
    [
      'a dispatch binding without a namespace',
      { dispatch_namespaces: [{ binding: 'D' }] },
      /"dispatch_namespaces\[0\]\.namespace"/,
    ],
    [
      'a dispatch binding that is also a service binding',
      {
        services: [{ binding: 'D', service: 's' }],
        dispatch_namespaces: [{ binding: 'D', namespace: 'n' }],
      },
      /binds D twice/,
    ],
    [
      'a bad outbound parameter',
      {
        dispatch_namespaces: [
          { binding: 'D', namespace: 'n', outbound: { service: 's', parameters: ['a-b'] } },
        ],
      },
      /"dispatch_namespaces\[0\]\.outbound\.parameters\[0\]"/,
    ],
    [
      'an outbound environment',
      {
        dispatch_namespaces: [
          { binding: 'D', namespace: 'n', outbound: { service: 's', environment: 'prod' } },
        ],
      },
      /"dispatch_namespaces\[0\]\.outbound\.environment" is not supported/,
    ],
    [
      'a bad namespace to be in',
      { wharf: { dispatch_namespace: 'a b' } },
      /"wharf\.dispatch_namespace"/,
    ],
    ['limits.subrequests of 0', { limits: { subrequests: 0 } }, /"limits\.subrequests"/],
    [
      'an unknown tcp field',
      { wharf: { tcp: [{ port: 1, tls: true }] } },
      /"wharf\.tcp\[0\]\.tls" is not a known field/,
    ],
  ] as const) {
    it(`refuses ${title}`, () => {
      assert.throws(
        () => load(extra),
        (error: Error & { code?: string }) =>
          error.code === 'ERR_WHARF_CONFIG' && pattern.test(error.message)
      )
    })
  }
})
