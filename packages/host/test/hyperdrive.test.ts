// Where a hyperdrive binding's local connection string comes from (wrangler's precedence), and
// that a binding whose pooler can't start is still wired, behind a clear error.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hyperdriveConnectionString } from '../src/hyperdrive.js'
import { get, startWharf, tempProject } from './helpers.js'

describe('hyperdrive bindings', () => {
  const binding = { binding: 'DB', localConnectionString: 'postgres://cfg@127.0.0.1/db' }

  it('takes CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING> over the config', () => {
    const env = { CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB: 'postgres://env@127.0.0.1/db' }
    assert.equal(hyperdriveConnectionString(binding, env), 'postgres://env@127.0.0.1/db')
  })

  it('then the deprecated WRANGLER_ variable, then localConnectionString', () => {
    const old = { WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB: 'postgres://old@127.0.0.1/db' }
    assert.equal(hyperdriveConnectionString(binding, old), 'postgres://old@127.0.0.1/db')
    assert.equal(hyperdriveConnectionString(binding, {}), 'postgres://cfg@127.0.0.1/db')
  })

  it('names both sources when neither is set', () => {
    assert.throws(
      () => hyperdriveConnectionString({ binding: 'DB' }, {}),
      (error: Error & { code?: string }) =>
        error.code === 'ERR_WHARF_HYPERDRIVE_CONFIG' &&
        error.message.includes('CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB') &&
        error.message.includes('localConnectionString')
    )
  })

  it('exposes env.<BINDING> to the Worker with the binding’s fields', async () => {
    const project = tempProject({
      'package.json': '{ "type": "module" }',
      'wrangler.json': JSON.stringify({
        main: 'w.js',
        hyperdrive: [
          { binding: 'DB', id: 'x', localConnectionString: 'postgres://u:p@127.0.0.1:1/db' },
        ],
      }),
      'w.js': [
        'export default { fetch(request, env) {',
        '  try {',
        '    const { host, port, user, database, connectionString } = env.DB',
        "    return Response.json({ host, port, user, database, ok: connectionString.startsWith('postgres') })",
        '  } catch (error) {',
        '    return new Response(error.message, { status: 503 })',
        '  }',
        '} }',
      ].join('\n'),
    })
    const wharf = await startWharf(project.dir, ['--no-watch'])
    try {
      const reply = await get(wharf.url)
      if (reply.status === 503) {
        // The pooler could not start (e.g. @wharf/pool not built): the binding says so clearly.
        assert.match(reply.body, /^wharf: hyperdrive binding DB is unavailable: /)
        assert.match(wharf.output(), /hyperdrive binding DB: the in-process pooler did not start/)
      } else {
        assert.equal(reply.status, 200, reply.body)
        const body = JSON.parse(reply.body) as { host: string; port: number; ok: boolean }
        assert.equal(body.host, '127.0.0.1')
        assert.ok(
          body.port > 0 && body.port !== 1,
          'points at the in-process pooler, not the origin'
        )
        assert.equal(body.ok, true)
      }
    } finally {
      await wharf.stop()
      project.remove()
    }
  })
})
