// Issue 18 item 3: what a real parser (libpg-query, PostgreSQL's own parser as WASM) costs per
// statement against the pooler's text scan (packages/pool/src/pg/sql.ts), and where the two
// disagree on the relations a statement reads or writes. Not a dependency: install it first,
//   npm install --no-save libpg-query@18 && npx tsx bench/pool/parser-eval.ts [--iterations 2000]
import { parseArgs } from 'node:util'
import * as sql from '../../packages/pool/src/pg/sql.js'

interface LibPgQuery {
  loadModule(): Promise<void>
  parseSync(query: string): unknown
}

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '2000' } } })
const iterations = Math.min(Math.max(Number(values.iterations), 10), 1_000_000)
const name = 'libpg-query'
let lib: LibPgQuery
try {
  lib = (await import(name)) as LibPgQuery
} catch {
  console.error('libpg-query is not installed: npm install --no-save libpg-query@18')
  process.exit(2)
}

const STATEMENTS = [
  'SELECT abalance FROM pgbench_accounts WHERE aid = 17',
  'SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 110 ORDER BY c',
  'SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id) WHERE a.x IN (SELECT x FROM d)',
  'WITH w AS (SELECT * FROM a) SELECT * FROM w JOIN public."Mixed Case" m ON true',
  'WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone',
  'MERGE INTO items t USING src s ON t.id = s.id WHEN MATCHED THEN DELETE',
  "INSERT INTO items (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
  'UPDATE items SET name = lower(name) FROM other o WHERE o.id = items.id',
  'TRUNCATE TABLE a, ONLY b, public.c RESTART IDENTITY',
  'SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.id = a.id) s',
  'SELECT * FROM U&"d\\0061ta"',
  'SELECT 1 FROM /* nested /* comment */ still comment */ real_table',
  `SELECT ${Array.from({ length: 40 }, (_, i) => `t${i}.v`).join(', ')} FROM ${Array.from({ length: 40 }, (_, i) => `t${i}`).join(', ')}`,
]

/** Relations an AST names (RangeVar nodes; CTE names are not RangeVars where they are defined). */
function relations(ast: unknown): string[] {
  const out = new Set<string>()
  const walk = (node: unknown, depth: number): void => {
    if (depth > 500 || node === null || typeof node !== 'object') return
    if (Array.isArray(node)) {
      for (const n of node) walk(n, depth + 1)
      return
    }
    const o = node as Record<string, unknown>
    // RangeVar fields: wrapped ({RangeVar: {...}}) in FROM lists, inline as a DML `relation`.
    if (typeof o.relname === 'string') out.add(o.relname)
    for (const v of Object.values(o)) walk(v, depth + 1)
  }
  walk(ast, 0)
  return [...out].sort()
}

const volatility: sql.Volatility = new Map([
  ['count', 'i'],
  ['lower', 'i'],
])
const scan = (text: string): string[] => {
  const b = sql.blank(text)
  const read = sql.readInfo(b, volatility).relations ?? []
  const w = sql.writes(b, volatility)
  return [...new Set([...read, ...(w === 'all' ? ['<all>'] : w)])].sort()
}
const perCall = (f: () => void): number => {
  for (let i = 0; i < Math.min(200, iterations); i++) f()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) f()
  return Number(process.hrtime.bigint() - t0) / 1000 / iterations
}

const t0 = performance.now()
await lib.loadModule()
console.log(`libpg-query loadModule: ${(performance.now() - t0).toFixed(1)} ms`)
console.log(
  `| statement | parse µs | parse + walk µs | text scan µs | parser's relations | scan's |`
)
console.log('|---|---|---|---|---|---|')
for (const text of STATEMENTS) {
  let parsed: string[] | string
  try {
    parsed = relations(lib.parseSync(text))
  } catch (error) {
    parsed = `error: ${(error as Error).message}`
  }
  const parse = perCall(() => lib.parseSync(text))
  const both = perCall(() => relations(lib.parseSync(text)))
  const scanned = perCall(() => scan(text))
  const label = text.length > 60 ? `${text.slice(0, 57)}...` : text
  console.log(
    `| \`${label}\` | ${parse.toFixed(1)} | ${both.toFixed(1)} | ${scanned.toFixed(1)} | ${Array.isArray(parsed) ? parsed.join(', ') : parsed} | ${scan(text).join(', ')} |`
  )
}
console.log(`heap after: ${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MiB RSS`)
