// test-support/postgres.ts itself: a real server with SCRAM and TLS (verified against the test
// CA), and stop() leaves nothing behind.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { describe, it } from 'node:test'
import pg from 'pg'
import { startPostgres } from '../../../test-support/postgres.js'

describe('test-support/postgres.ts', () => {
  it('starts PostgreSQL with SCRAM and TLS, and stop() removes it', async () => {
    const server = await startPostgres({ tls: true })
    let stopped = false
    try {
      assert.equal(server.host, '127.0.0.1')
      assert.ok(server.ca?.includes('BEGIN CERTIFICATE'), 'the CA of the server certificate')
      const client = new pg.Client({
        host: '127.0.0.1',
        port: server.port,
        user: server.user,
        password: server.password,
        database: server.database,
        ssl: { ca: server.ca, servername: 'localhost' },
      })
      await client.connect()
      const { rows } = await client.query<{ ssl: boolean; method: string }>(
        `SELECT s.ssl, CASE WHEN a.rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram' ELSE 'other' END AS method
           FROM pg_stat_ssl s, pg_authid a
          WHERE s.pid = pg_backend_pid() AND a.rolname = current_user`
      )
      assert.deepEqual(rows, [{ ssl: true, method: 'scram' }])
      await client.end()
      const wrong = new pg.Client({
        host: '127.0.0.1',
        port: server.port,
        user: server.user,
        password: 'wrong',
        database: server.database,
        ssl: { ca: server.ca, servername: 'localhost' },
      })
      wrong.on('error', () => undefined)
      await assert.rejects(wrong.connect(), /password authentication failed/)

      await server.stop()
      stopped = true
      assert.equal(existsSync(server.dataDir), false, 'the data directory is removed')
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port: server.port })
        s.once('connect', () => {
          s.destroy()
          resolve(false)
        })
        s.once('error', () => resolve(true))
        s.setTimeout(5000, () => {
          s.destroy()
          resolve(false)
        })
      })
      assert.ok(refused, 'nothing listens on the port any more')
    } finally {
      if (!stopped) await server.stop()
    }
  })
})
