// Shared set-up for the pooler tests: one real PostgreSQL per test file, poolers started against
// it, and small clients (pg, postgres.js, raw sockets) that tests drive.
import net from 'node:net'
import { once } from 'node:events'
import pg from 'pg'
import { startPostgres, type PostgresServer } from '../../../test-support/postgres.js'
import { startPool, type RunningPool, type StartPoolOptions } from '../src/index.js'

export { startPostgres, type PostgresServer }

export async function pooler(
  server: PostgresServer,
  options: Partial<StartPoolOptions> = {}
): Promise<RunningPool> {
  return startPool({
    upstream: `${server.connectionString}?sslmode=disable`,
    listen: '127.0.0.1:0',
    ...options,
  })
}

export async function pgClient(pool: RunningPool): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: pool.connectionString })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

/** A raw TCP connection to the pooler that records everything it receives. */
export async function rawClient(
  port: number
): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port })
  await once(socket, 'connect')
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => undefined)
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return { socket, received: () => Buffer.concat(chunks), closed }
}

export function startupPacket(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`)
  const head = Buffer.alloc(8)
  head.writeInt32BE(body.length + 8)
  head.writeInt32BE(196608, 4)
  return Buffer.concat([head, body])
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
