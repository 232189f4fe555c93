// Origin authentication methods other than SCRAM: a PostgreSQL that asks for MD5 passwords, and
// the typed errors when the upstream credentials are wrong or missing.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pgClient, startPostgres, type PostgresServer } from './helpers.js'
import { startPool } from '../src/index.js'

describe('wharf pool: origin authentication', () => {
  let server: PostgresServer
  before(async () => {
    server = await startPostgres({ auth: 'md5' })
  })
  after(async () => {
    await server.stop()
  })

  it('logs in to an MD5 origin and serves clients through it', async () => {
    const pool = await startPool({
      upstream: `${server.connectionString}?sslmode=disable`,
      listen: '127.0.0.1:0',
      cache: false,
    })
    try {
      const client = await pgClient(pool)
      const { rows } = await client.query<{ method: string }>(
        `SELECT CASE WHEN rolpassword LIKE 'md5%' THEN 'md5' ELSE 'other' END AS method
           FROM pg_authid WHERE rolname = current_user`
      )
      assert.deepEqual(rows, [{ method: 'md5' }])
      await client.end()
    } finally {
      await pool.close()
    }
  })

  it('a wrong or missing upstream password fails startPool with ERR_POOL_ORIGIN_AUTH', async () => {
    const url = new URL(server.connectionString)
    url.password = 'not-the-password'
    await assert.rejects(
      startPool({ upstream: `${url.href}?sslmode=disable`, listen: '127.0.0.1:0', cache: false }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ERR_POOL_ORIGIN_AUTH')
        assert.match(error.message, /password authentication failed/)
        return true
      }
    )
    url.password = ''
    await assert.rejects(
      startPool({ upstream: `${url.href}?sslmode=disable`, listen: '127.0.0.1:0', cache: false }),
      { code: 'ERR_POOL_ORIGIN_AUTH', message: /asks for a password and none is configured/ }
    )
  })
})
