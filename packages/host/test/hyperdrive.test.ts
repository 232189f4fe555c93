// Where a hyperdrive binding's local connection string comes from (wrangler's precedence); a
// binding whose origin is down starts and recovers by itself; caching per binding; a
// non-Postgres origin is named as such.
import assert from 'node:assert/strict'
import net from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { hyperdriveConnectionString } from '../src/hyperdrive.js'
import { startPostgres, type PostgresServer } from '../../../test-support/postgres.js'
import { freePort } from '../../../test-support/servers.js'
import { FIXTURES, get, startWharf, type Wharf } from './helpers.js'

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

  it('takes postgres:// and mysql:// connection strings and names any other scheme', () => {
    const from = (url: string): string =>
      hyperdriveConnectionString(
        { binding: 'DB' },
        { CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB: url }
      )
    assert.equal(from('mysql://u:p@127.0.0.1:3306/db'), 'mysql://u:p@127.0.0.1:3306/db')
    assert.equal(from('postgres://u:p@127.0.0.1:5432/db'), 'postgres://u:p@127.0.0.1:5432/db')
    assert.throws(() => from('redis://127.0.0.1:6379'), {
      code: 'ERR_WHARF_HYPERDRIVE_CONFIG',
      message: /must be a postgres:\/\/, postgresql:\/\/ or mysql:\/\/ URL/,
    })
  })
})

/** A TCP forwarder on a fixed port to `target` (the origin "coming up" there later). */
function forwarder(port: number, target: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: target })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.pipe(upstream).pipe(client)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

describe('hyperdrive bindings users can live with', () => {
  let server: PostgresServer
  before(async () => {
    server = await startPostgres()
    server.psql("CREATE TABLE items (name text); INSERT INTO items VALUES ('a'), ('b')")
  })
  after(async () => {
    await server.stop()
  })

  const start = async (db: string, nocache: string): Promise<Wharf> => {
    process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB = db
    process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_NOCACHE = nocache
    try {
      return await startWharf(join(FIXTURES, 'hyperdrive-query'), ['--no-watch'])
    } finally {
      delete process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB
      delete process.env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_NOCACHE
    }
  }

  it('a binding whose origin is down starts, fails each query clearly, and recovers by itself', async () => {
    const port = await freePort()
    const url = `postgres://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${port}/postgres?sslmode=disable`
    const wharf = await start(url, url)
    let front: net.Server | undefined
    try {
      assert.match(
        wharf.output(),
        /hyperdrive binding DB: the origin is not available .*ECONNREFUSED.*starting anyway/
      )
      const down = await get(wharf.url)
      assert.equal(down.status, 503)
      assert.match(
        down.body,
        /hyperdrive binding DB: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/
      )
      front = await forwarder(port, server.port)
      // Retries are at most once a second: the binding is back within a few requests.
      let reply = await get(wharf.url)
      for (let i = 0; i < 20 && reply.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250))
        reply = await get(wharf.url)
      }
      assert.equal(reply.status, 200, reply.body)
      assert.deepEqual(JSON.parse(reply.body), ['a', 'b'])
      await wharf.waitFor(/hyperdrive binding DB: the origin 127\.0\.0\.1:\d+ is up; connected/)
    } finally {
      await wharf.stop()
      front?.close()
    }
  })

  it('caching per binding: cached by default (and logged), off for NOCACHE', async () => {
    const url = `${server.connectionString}?sslmode=disable`
    const wharf = await start(url, url)
    try {
      assert.match(
        wharf.output(),
        /binding DB: .*query cache on \(max_age 60s, stale_while_revalidate 15s\)/
      )
      assert.match(wharf.output(), /binding NOCACHE: .*query cache off/)
      assert.deepEqual(JSON.parse((await get(wharf.url)).body), ['a', 'b'])
      assert.deepEqual(JSON.parse((await get(`${wharf.url}/?binding=NOCACHE`)).body), ['a', 'b'])
      server.psql("INSERT INTO items VALUES ('c')")
      // The cached binding still answers the old rows; the uncached one sees the insert at once.
      assert.deepEqual(JSON.parse((await get(wharf.url)).body), ['a', 'b'])
      await wharf.waitFor(/\[wharf:hyperdrive\] DB: 1 query result\(s\) served from the cache/)
      assert.deepEqual(JSON.parse((await get(`${wharf.url}/?binding=NOCACHE`)).body), [
        'a',
        'b',
        'c',
      ])
      assert.doesNotMatch(wharf.output(), /NOCACHE: \d+ query result\(s\) served from the cache/)
    } finally {
      await wharf.stop()
      server.psql("DELETE FROM items WHERE name = 'c'")
    }
  })

  it('an echo origin that answers N to an SSLRequest is still reported as not PostgreSQL, fast', async () => {
    // workers-sdk's vitest hyperdrive example points its binding at such a server.
    const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
    const echo = net.createServer((socket) => {
      socket.on('error', () => undefined)
      socket.on('data', (chunk: Buffer) => socket.write(sslRequest.equals(chunk) ? 'N' : chunk))
    })
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    const port = (echo.address() as net.AddressInfo).port
    const started = Date.now()
    const wharf = await start(
      `postgres://u:p@127.0.0.1:${port}/db`,
      `${server.connectionString}?sslmode=disable`
    )
    try {
      // The pooler's own start-up would have waited 15 s for a reply it cannot parse.
      assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`)
      assert.match(
        wharf.output(),
        /the origin 127\.0\.0\.1:\d+ is not a PostgreSQL server: its answer to a StartupMessage is not PostgreSQL's/
      )
      const reply = await get(wharf.url)
      assert.equal(reply.status, 503)
      assert.match(reply.body, /is not a PostgreSQL server/)
    } finally {
      await wharf.stop()
      echo.close()
    }
  })

  it('a non-Postgres origin is reported as such within a few seconds', async () => {
    const http = net.createServer((socket) => {
      socket.on('error', () => undefined)
      socket.on('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const port = (http.address() as net.AddressInfo).port
    const started = Date.now()
    const wharf = await start(
      `postgres://u:p@127.0.0.1:${port}/db`,
      `${server.connectionString}?sslmode=disable`
    )
    try {
      assert.ok(Date.now() - started < 10_000)
      assert.match(
        wharf.output(),
        /the origin 127\.0\.0\.1:\d+ is not a PostgreSQL server: it answers like an HTTP server/
      )
      const reply = await get(wharf.url)
      assert.equal(reply.status, 503)
      assert.match(reply.body, /is not a PostgreSQL server/)
    } finally {
      await wharf.stop()
      http.close()
    }
  })
})
