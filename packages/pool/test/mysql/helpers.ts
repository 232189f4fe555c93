// Shared set-up for the MySQL pooler tests: a real MariaDB, poolers in front of it, and real
// mysql2 clients (a tapped socket shows the bytes the pooler sent during login).
import net from 'node:net'
import { once } from 'node:events'
import mysql from 'mysql2/promise'
import { startMariaDb, type MariaDbServer } from '../../../../test-support/mariadb.js'
import { startPool, type RunningPool } from '../../src/index.js'
import type { MysqlPoolOptions } from '../../src/mysql/pooler.js'

export { startMariaDb, type MariaDbServer }

export function mysqlPooler(
  server: MariaDbServer,
  options: Partial<MysqlPoolOptions> = {}
): Promise<RunningPool> {
  return startPool({
    upstream: `${server.connectionString}?ssl-mode=DISABLED`,
    listen: '127.0.0.1:0',
    ...options,
  })
}

export async function client(
  pool: RunningPool,
  extra: Partial<mysql.ConnectionOptions> = {}
): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: pool.port,
    user: pool.user,
    password: pool.password,
    database: pool.database,
    multipleStatements: true,
    connectTimeout: 10_000,
    ...extra,
  })
  conn.on('error', () => undefined)
  return conn
}

/** A mysql2 connection over a socket whose incoming bytes are recorded. */
export async function tappedClient(
  pool: RunningPool,
  extra: Partial<mysql.ConnectionOptions> = {}
): Promise<{ conn: mysql.Connection; received: () => Buffer }> {
  const socket = net.connect({ host: '127.0.0.1', port: pool.port })
  await once(socket, 'connect')
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  const conn = await client(pool, { stream: socket, ...extra })
  return { conn, received: () => Buffer.concat(chunks) }
}

/** A direct mysql2 connection to the origin (no pooler). */
export async function direct(server: MariaDbServer): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: server.port,
    user: server.user,
    password: server.password,
    database: server.database,
  })
  conn.on('error', () => undefined)
  return conn
}

/** The MySQL error number of a rejected promise. */
export async function errno(p: Promise<unknown>): Promise<number | string> {
  try {
    await p
  } catch (error) {
    const e = error as { errno?: number; code?: string }
    return e.errno ?? e.code ?? 'no errno'
  }
  return 'no error'
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
