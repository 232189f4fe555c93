// Protocol details of a client session through a real pooler and PostgreSQL: parameter counts
// above 32767 (unsigned on the wire), a TLS ClientHello pipelined right behind the SSLRequest,
// and the client-visible refusals of start-up (3D000, 28P01, unsupported protocol versions).
import assert from 'node:assert/strict'
import net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { testPki } from '../../../test-support/certs.js'
import type { RunningPool } from '../src/index.js'
import {
  pgClient,
  pooler,
  rawClient,
  sleep,
  startPostgres,
  startupPacket,
  type PostgresServer,
} from './helpers.js'

const pki = testPki()

/** Reads from `socket` until a ReadyForQuery or an ErrorResponse arrives (or 5 s pass). */
function untilReadyOrError(socket: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.off('data', onData)
      reject(new Error(`no answer within 5 s: ${Buffer.concat(chunks).toString('latin1')}`))
    }, 5000)
    const onData = (c: Buffer): void => {
      chunks.push(c)
      const all = Buffer.concat(chunks)
      // Message boundaries: walk type+length frames looking for 'Z' or 'E'.
      for (let at = 0; at + 5 <= all.length;) {
        const type = all[at]
        const len = all.readInt32BE(at + 1)
        if (at + 1 + len > all.length) break
        if (type === 0x5a || type === 0x45) {
          clearTimeout(timer)
          socket.off('data', onData)
          resolve(all)
          return
        }
        at += 1 + len
      }
    }
    socket.on('data', onData)
  })
}

describe('wharf pool: client session protocol', () => {
  let server: PostgresServer
  let pool: RunningPool

  before(async () => {
    server = await startPostgres()
    pool = await pooler(server, {
      auth: 'trust',
      tls: { key: pki.localhost.key, cert: pki.localhost.cert },
    })
  })
  after(async () => {
    await pool.close()
    await server.stop()
  })

  it('accepts Parse with more than 32767 parameters (the count is unsigned 16-bit)', async () => {
    const client = await pgClient(pool)
    try {
      const n = 40_000
      const params = Array.from({ length: n }, (_, i) => `$${i + 1}`).join(',')
      const values = Array.from({ length: n }, (_, i) => i)
      const text = `SELECT cardinality(ARRAY[${params}]::int[]) AS n`
      const unnamed = await client.query<{ n: number }>(text, values)
      assert.equal(unnamed.rows[0]?.n, n)
      // Named: the pooler re-builds the Parse under its internal name, count included.
      const named = await client.query<{ n: number }>({ name: 'many', text, values })
      assert.equal(named.rows[0]?.n, n)
      const again = await client.query<{ n: number }>({ name: 'many', text, values })
      assert.equal(again.rows[0]?.n, n)
    } finally {
      await client.end()
    }
  })

  it('a ClientHello pipelined right behind the SSLRequest still completes the handshake', async () => {
    const raw = net.connect({ host: '127.0.0.1', port: pool.port })
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', resolve)
      raw.once('error', reject)
    })
    const sslRequest = Buffer.alloc(8)
    sslRequest.writeInt32BE(8)
    sslRequest.writeInt32BE(80877103, 4)
    // A duplex that sends the SSLRequest in the same write as the ClientHello, and strips the
    // pooler's one-byte 'S' answer before TLS sees the stream.
    let first = true
    let answered = false
    let answer = ''
    const pipe = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, done) {
        raw.write(first ? Buffer.concat([sslRequest, chunk]) : chunk, done)
        first = false
      },
    })
    raw.on('data', (c: Buffer) => {
      if (!answered) {
        answered = true
        answer = String.fromCharCode(c[0] ?? 0)
        c = c.subarray(1)
      }
      if (c.length > 0) pipe.push(c)
    })
    raw.on('end', () => pipe.push(null))
    const secure = tls.connect({ socket: pipe, ca: pki.ca, servername: 'localhost' })
    secure.on('error', () => undefined)
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('TLS handshake did not finish in 5 s')),
          5000
        )
        secure.once('secureConnect', () => {
          clearTimeout(timer)
          resolve()
        })
        secure.once('error', (e: Error) => {
          clearTimeout(timer)
          reject(e)
        })
      })
      assert.equal(answer, 'S')
      secure.write(startupPacket(pool.user, pool.database))
      const reply = await untilReadyOrError(secure)
      assert.equal(reply[0], 0x52, 'AuthenticationOk over TLS')
      assert.equal(reply[reply.length - 6], 0x5a, 'ends with ReadyForQuery')
    } finally {
      secure.destroy()
      raw.destroy()
    }
  })

  async function fatal(bytes: Buffer): Promise<Record<string, string>> {
    const raw = await rawClient(pool.port)
    raw.socket.write(bytes)
    await Promise.race([
      raw.closed,
      sleep(5000).then(() => assert.fail('the pooler kept the connection open')),
    ])
    const got = raw.received()
    assert.equal(got[0], 0x45, `an ErrorResponse, got ${got.toString('latin1')}`)
    const fields: Record<string, string> = {}
    for (const part of got.subarray(5).toString('utf8').split('\0')) {
      if (part.length > 1) fields[part[0] ?? ''] = part.slice(1)
    }
    return fields
  }

  it('start-up refusals carry their SQLSTATE: 3D000, unsupported protocol (08P01)', async () => {
    const wrongDb = await fatal(startupPacket(pool.user, 'not_this_one'))
    assert.equal(wrongDb.C, '3D000')
    assert.equal(wrongDb.S, 'FATAL')
    const v2 = startupPacket(pool.user, pool.database)
    v2.writeInt32BE(2 << 16, 4)
    const old = await fatal(v2)
    assert.equal(old.C, '08P01')
    assert.match(old.M ?? '', /unsupported frontend protocol 2\.0/)
  })
})
