// The long mode of the WAL invalidation differential check (issue 18): the same property as
// packages/pool/test/wal.test.ts (random writes through a direct connection with a trigger, a
// cascade, a VOLATILE function, the pooler, a second pooler and DDL; cached reads must equal
// the origin's once each write is streamed), run 10,000 times against a real PostgreSQL with
// wal_level = logical. fast-check prints the seed and the shrunk sequence on failure.
//
//   npx tsx bench/pool/wal-long.ts [--runs 10000] [--seed N] [--hours 6]
import { parseArgs } from 'node:util'
import pg from 'pg'
import { startPool } from '../../packages/pool/src/index.js'
import { startLogicalPostgres } from '../../test-support/logical-postgres.js'
import { DIFFERENTIAL_SCHEMA, runDifferential } from '../../packages/pool/test/wal-differential.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    hours: { type: 'string', default: '6' },
  },
})
const runs = Math.min(Math.max(Number(values.runs), 1), 1_000_000)
const server = await startLogicalPostgres()
server.psql(DIFFERENTIAL_SCHEMA)
const upstream = `${server.connectionString}?sslmode=disable`
const pool = await startPool({
  upstream,
  listen: '127.0.0.1:0',
  auth: 'trust',
  walInvalidation: { publication: 'wharf' },
})
const other = await startPool({ upstream, listen: '127.0.0.1:0', auth: 'trust' })
const clients: pg.Client[] = []
const connect = async (connectionString: string): Promise<pg.Client> => {
  const c = new pg.Client({ connectionString })
  c.on('error', () => undefined)
  await c.connect()
  clients.push(c)
  return c
}
const started = Date.now()
let failed = false
try {
  await runDifferential(
    {
      client: await connect(pool.connectionString),
      other: await connect(other.connectionString),
      direct: await connect(upstream),
      pool,
    },
    runs,
    Number(values.hours) * 3_600_000,
    values.seed === undefined ? undefined : Number(values.seed)
  )
  const m = pool.metrics()
  console.log(
    `wal long mode: ${runs} sequences agreed in ${((Date.now() - started) / 1000).toFixed(0)} s (${m.changeStream.commits} commits streamed, ${m.changeStream.schemaChanges} schema changes, cache hits ${m.cache.hits}, misses ${m.cache.misses})`
  )
} catch (error) {
  failed = true
  console.error(error instanceof Error ? error.message : String(error))
} finally {
  for (const c of clients) await c.end().catch(() => undefined)
  await pool.close()
  await other.close()
  await server.stop()
}
process.exitCode = failed ? 1 : 0
