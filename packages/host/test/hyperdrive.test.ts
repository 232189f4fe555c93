// Where a hyperdrive binding's local connection string comes from (wrangler's precedence), and
// that a binding whose pooler can't start is still wired, behind a clear error.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { hyperdriveConnectionString } from '../src/hyperdrive.js'
import { startPostgres } from '../../../test-support/postgres.js'
import { FIXTURES, get, startWharf, tempProject } from './helpers.js'

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

  it('a binding whose origin is unreachable is wired behind a clear error; the host runs on', async () => {
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
        '    return new Response(env.DB.connectionString)',
        '  } catch (error) {',
        '    return new Response(error.message, { status: 503 })',
        '  }',
        '} }',
      ].join('\n'),
    })
    const wharf = await startWharf(project.dir, ['--no-watch'])
    try {
      const reply = await get(wharf.url)
      assert.equal(reply.status, 503)
      assert.match(reply.body, /^wharf: hyperdrive binding DB is unavailable: /)
      assert.match(wharf.output(), /hyperdrive binding DB: the in-process pooler did not start/)
    } finally {
      await wharf.stop()
      project.remove()
    }
  })

  it('a Worker queries a real PostgreSQL with pg through env.DB (the in-process pooler)', async () => {
    const server = await startPostgres()
    server.psql(
      "CREATE TABLE greetings (text text); INSERT INTO greetings VALUES ('hello from postgres')"
    )
    process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB = `${server.connectionString}?sslmode=disable`
    const wharf = await startWharf(join(FIXTURES, 'hyperdrive'), ['--no-watch'])
    delete process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB
    try {
      for (let i = 0; i < 3; i++) {
        const reply = await get(wharf.url)
        assert.equal(reply.status, 200, reply.body + wharf.output())
        const body = JSON.parse(reply.body) as {
          text: string
          via: string
          host: string
          port: number
        }
        assert.equal(body.text, 'hello from postgres')
        assert.equal(body.via, 'wharf pool', 'the origin connection is the pooler’s')
        assert.equal(body.host, '127.0.0.1')
        assert.notEqual(body.port, server.port)
      }
    } finally {
      await wharf.stop()
      await server.stop()
    }
  })
})
