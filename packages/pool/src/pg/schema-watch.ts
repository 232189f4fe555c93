/**
 * DDL the WAL stream does not carry: pgoutput streams row changes, not `ALTER TABLE`, `DROP`,
 * `CREATE OR REPLACE VIEW`. Each relation's catalog rows (pg_class, its pg_attribute columns, its
 * pg_rewrite rules) get a new xmin whenever its shape changes, so a fingerprint of those xmins
 * names the relations DDL touched. One digest of them all rides along with every WAL position
 * poll (see wal.ts); only when it differs are the per-relation fingerprints fetched and compared.
 * VACUUM and ANALYZE update pg_class in place (no new xmin), so they do not count as DDL;
 * CREATE INDEX does (a harmless extra drop).
 */

const USER_RELATIONS = `FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`

const FINGERPRINT = `c.oid::text || ':' || c.xmin::text || ':' ||
  coalesce((SELECT string_agg(a.xmin::text, '.' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0), '') || ':' ||
  coalesce((SELECT string_agg(r.xmin::text, '.' ORDER BY r.oid) FROM pg_catalog.pg_rewrite r
    WHERE r.ev_class = c.oid), '')`

/** One text that changes when any user relation's shape does. */
export const SCHEMA_DIGEST_SQL = `SELECT md5(coalesce(string_agg(f, ',' ORDER BY f), '')) FROM (SELECT ${FINGERPRINT} AS f ${USER_RELATIONS}) s`

/** Each relation (lowercased name, as sql.ts names them) with its fingerprint. */
export const SCHEMA_LIST_SQL = `SELECT lower(c.relname), ${FINGERPRINT} ${USER_RELATIONS}`

/** Relations are many but not unbounded: past this, a change drops everything. */
const MAX_RELATIONS = 200_000

export class SchemaWatch {
  private digest: string | undefined
  private known: Map<string, string> | undefined

  /**
   * A new digest. Returns undefined when nothing changed (or on the first look), else the
   * relation names whose shape changed, appeared or went, or 'all' when it cannot tell.
   */
  async changed(
    digest: string,
    list: () => Promise<(string | null)[][]>
  ): Promise<readonly string[] | 'all' | undefined> {
    const before = this.digest
    if (digest === before) return undefined
    let now: Map<string, string> | undefined
    try {
      const rows = await list()
      if (rows.length <= MAX_RELATIONS) {
        now = new Map()
        for (const row of rows) {
          const name = row[0]
          // Same-named relations in two schemas: their fingerprints are joined.
          if (name !== null && name !== undefined) {
            now.set(name, `${now.get(name) ?? ''}|${row[1] ?? ''}`)
          }
        }
      }
    } catch {
      now = undefined
    }
    const old = this.known
    this.digest = now ? digest : undefined
    this.known = now
    if (before === undefined && old === undefined) return now ? undefined : 'all'
    if (!now || !old) return 'all'
    const out = new Set<string>()
    for (const [name, fp] of now) if (old.get(name) !== fp) out.add(name)
    for (const name of old.keys()) if (!now.has(name)) out.add(name)
    return [...out]
  }

  /** A new stream (or a lost one): the next digest is a first look again. */
  reset(): void {
    this.digest = undefined
    this.known = undefined
  }
}
