// The Worker-style client of the far-origin scenario, in a fresh process:
//   node far-client.mjs '{"port":5432,"user":"u","database":"d","iterations":200,"warmup":50}'
//   node far-client.mjs '{"driver":"mysql","port":3306,"user":"u","password":"p","database":"d"}'
//   node far-client.mjs '{"driver":"mysql","persistent":true,...}' (one connection, query only)
// Each iteration is what a Worker does per request: a new connection (the `pg` driver, or
// mysql2 with "driver":"mysql", over node:net), one query, disconnect. It times connect → the query's result (the latency the
// request sees; the disconnect is off its critical path but still awaited before the next one).
// Prints one JSON line: { p50, p99, min, max, mean, n, errors } in ms.
import mysql from 'mysql2/promise'
import pg from 'pg'

const params = JSON.parse(process.argv[2] ?? '{}')
const iterations = Math.min(Math.max(Number(params.iterations ?? 200), 1), 100_000)
const warmup = Math.min(Math.max(Number(params.warmup ?? 0), 0), 100_000)
// A small hot set (100 rows): the cached pooler answers from memory once it has seen each.
const keys = Math.min(Math.max(Number(params.keys ?? 100), 1), 100_000)

async function oncePg(i) {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: params.port,
    user: params.user,
    database: params.database,
    connectionTimeoutMillis: 10_000,
    query_timeout: 10_000,
  })
  client.on('error', () => undefined)
  const t0 = performance.now()
  try {
    await client.connect()
    const r = await client.query(
      `SELECT abalance FROM pgbench_accounts WHERE aid = ${1 + (i % keys)}`
    )
    if (r.rows.length !== 1) throw new Error(`expected one row, got ${r.rows.length}`)
    return performance.now() - t0
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function onceMysql(i) {
  const t0 = performance.now()
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: params.port,
    user: params.user,
    password: params.password ?? '',
    database: params.database,
    connectTimeout: 10_000,
  })
  conn.on('error', () => undefined)
  try {
    const [rows] = await conn.query({
      sql: `SELECT c FROM sbtest1 WHERE id = ${1 + (i % keys)}`,
      timeout: 10_000,
    })
    if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`)
    return performance.now() - t0
  } finally {
    await conn.end().catch(() => conn.destroy())
  }
}

// "persistent": one mysql2 connection for every iteration, each timing one query only: what one
// round trip through the delay proxy really takes (its timers fire late on a loaded machine).
let persistent
async function onceMysqlPersistent(i) {
  persistent ??= await mysql.createConnection({
    host: '127.0.0.1',
    port: params.port,
    user: params.user,
    password: params.password ?? '',
    database: params.database,
    connectTimeout: 10_000,
  })
  const t0 = performance.now()
  const [rows] = await persistent.query({
    sql: `SELECT c FROM sbtest1 WHERE id = ${1 + (i % keys)}`,
    timeout: 10_000,
  })
  if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`)
  return performance.now() - t0
}

const once =
  params.driver === 'mysql'
    ? params.persistent === true
      ? onceMysqlPersistent
      : onceMysql
    : oncePg
let errors = 0
let lastError = ''
const times = []
for (let i = 0; i < warmup + iterations; i++) {
  try {
    const ms = await once(i)
    if (i >= warmup) times.push(ms)
  } catch (error) {
    errors++
    lastError = String(error?.message ?? error).slice(0, 200)
    if (errors > 20 && errors > (i + 1) / 10)
      throw new Error(`too many errors: ${lastError}`, { cause: error })
  }
}
await persistent?.end().catch(() => persistent.destroy())
times.sort((a, b) => a - b)
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))]
console.log(
  JSON.stringify({
    p50: at(0.5),
    p99: at(0.99),
    min: times[0],
    max: times[times.length - 1],
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    n: times.length,
    errors,
    ...(errors ? { lastError } : {}),
  })
)
