/**
 * What the pooler knows of the origin's catalog, for cache invalidation: function volatility
 * (pg_proc), and the ways a write reaches tables it does not name: updatable views and views
 * over written tables (pg_rewrite/pg_depend), partitions and inheritance (pg_inherits), foreign
 * keys with ON DELETE/UPDATE actions (pg_constraint), and user triggers (pg_trigger), which may
 * write anything. Names are lowercased relation names without schema, as sql.ts produces them;
 * equal names in two schemas are treated as one (more is dropped, never less).
 *
 * A snapshot is taken at start and again after DDL passes through the pooler. What it cannot
 * know (a function created by another client since) sql.ts treats as volatile.
 */
import type { PgPool } from './origin-driver.js'
import type { Volatility } from './sql.js'

export interface CatalogSnapshot {
  readonly volatility: Volatility
  /** view -> relations it reads (direct). */
  readonly viewReads: ReadonlyMap<string, readonly string[]>
  /** relation -> views reading it (direct). */
  readonly readByViews: ReadonlyMap<string, readonly string[]>
  /** child -> parents, parent -> children (partitions and inheritance). */
  readonly parents: ReadonlyMap<string, readonly string[]>
  readonly children: ReadonlyMap<string, readonly string[]>
  /** referenced table -> tables whose foreign keys act on its DELETE/UPDATE (cascade, set null/default). */
  readonly fkActions: ReadonlyMap<string, readonly string[]>
  /** Tables and views with user triggers or non-SELECT rules: a write may touch anything. */
  readonly opaque: ReadonlySet<string>
  /** Sequences: never cached (nextval changes them without naming them). */
  readonly sequences: ReadonlySet<string>
}

export const EMPTY_CATALOG: CatalogSnapshot = {
  volatility: new Map(),
  viewReads: new Map(),
  readByViews: new Map(),
  parents: new Map(),
  children: new Map(),
  fkActions: new Map(),
  opaque: new Set(),
  sequences: new Set(),
}

/** Bound on the closure walks: catalogs are finite, but a hostile one need not be small. */
const MAX_CLOSURE = 10_000

function closure(
  start: Iterable<string>,
  edges: readonly ReadonlyMap<string, readonly string[]>[]
): Set<string> | 'all' {
  const seen = new Set<string>(start)
  const todo = [...seen]
  while (todo.length > 0) {
    const name = todo.pop() ?? ''
    for (const e of edges) {
      for (const next of e.get(name) ?? []) {
        if (seen.has(next)) continue
        if (seen.size >= MAX_CLOSURE) return 'all'
        seen.add(next)
        todo.push(next)
      }
    }
  }
  return seen
}

/**
 * The names a cached read depends on: the relations it names and the tables under any view
 * among them (partitions are covered by `writeEffects`, which adds a written table's parents).
 * Null: not cacheable (it reads a sequence).
 */
export function readDependencies(
  catalog: CatalogSnapshot,
  relations: readonly string[]
): string[] | null {
  if (relations.some((r) => catalog.sequences.has(r))) return null
  const all = closure(relations, [catalog.viewReads])
  if (all === 'all') return null
  return [...all]
}

/**
 * What a write to `tables` may change: the tables themselves, what views over them show, their
 * partitions and parents, tables changed by foreign-key actions, and the base tables of a view
 * written through. 'all' when a trigger or rule on any of them may write anything.
 */
export function writeEffects(
  catalog: CatalogSnapshot,
  tables: readonly string[] | 'all'
): readonly string[] | 'all' {
  if (tables === 'all' || tables.length === 0) return tables
  const written = closure(tables, [
    catalog.viewReads,
    catalog.children,
    catalog.parents,
    catalog.fkActions,
  ])
  if (written === 'all') return 'all'
  for (const t of written) if (catalog.opaque.has(t)) return 'all'
  // Cached reads name views: each view over a written relation is stale too.
  const shown = closure(written, [catalog.readByViews])
  return shown === 'all' ? 'all' : [...shown]
}

function pairs(rows: (string | null)[][]): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const [a, b] of rows) {
    if (!a || !b || a === b) continue
    const list = map.get(a) ?? []
    if (!list.includes(b)) list.push(b)
    map.set(a, list)
  }
  return map
}

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`

/** Reads a snapshot on one pooled connection (a few catalog queries, no locks). */
export async function loadCatalog(pool: PgPool): Promise<CatalogSnapshot> {
  const conn = await pool.acquire()
  try {
    const q = (text: string): Promise<(string | null)[][]> => conn.simpleQuery(text)
    const procs = await q(
      'SELECT lower(proname), max(provolatile::text) FROM pg_catalog.pg_proc GROUP BY 1'
    )
    const volatility = new Map<string, 'i' | 's' | 'v'>()
    for (const [name, v] of procs) {
      if (name && (v === 'i' || v === 's' || v === 'v')) volatility.set(name, v)
    }
    // A view's rule depends on every relation its query reads.
    const views = pairs(
      await q(`SELECT DISTINCT lower(v.relname), lower(t.relname)
        FROM pg_catalog.pg_rewrite r
        JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
        JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
        JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
          AND d.refclassid = 'pg_catalog.pg_class'::regclass
        JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
        WHERE v.relkind IN ('v', 'm') AND r.ev_type = '1' AND t.oid <> v.oid AND ${USER_SCHEMAS}`)
    )
    const readByViews = new Map<string, string[]>()
    for (const [view, reads] of views) {
      for (const t of reads) readByViews.set(t, [...(readByViews.get(t) ?? []), view])
    }
    const inherits = await q(`SELECT lower(c.relname), lower(p.relname)
        FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
        JOIN pg_catalog.pg_class p ON p.oid = i.inhparent`)
    const parents = pairs(inherits)
    const children = pairs(inherits.map(([c, p]) => [p ?? null, c ?? null]))
    const fkActions = pairs(
      await q(`SELECT lower(p.relname), lower(c.relname)
        FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
        JOIN pg_catalog.pg_class p ON p.oid = k.confrelid
        WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))`)
    )
    const opaque = new Set<string>()
    for (const [name] of await q(`SELECT DISTINCT lower(c.relname)
        FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
        WHERE NOT g.tgisinternal
        UNION
        SELECT DISTINCT lower(c.relname) FROM pg_catalog.pg_rewrite r
        JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE r.ev_type <> '1' AND ${USER_SCHEMAS}`)) {
      if (name) opaque.add(name)
    }
    const sequences = new Set<string>()
    for (const [name] of await q(
      `SELECT lower(relname) FROM pg_catalog.pg_class WHERE relkind = 'S'`
    )) {
      if (name) sequences.add(name)
    }
    return {
      volatility,
      viewReads: views,
      readByViews,
      parents,
      children,
      fkActions,
      opaque,
      sequences,
    }
  } finally {
    pool.release(conn)
  }
}
