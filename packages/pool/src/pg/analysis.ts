/**
 * What the pooler reads from a statement's text, remembered per text for the whole pooler.
 * Reading SQL (regular expressions over the blanked text, sql.ts) costs more than answering a
 * cache hit, and clients send the same few texts over and over: a Worker's handful of queries, or
 * pgbench's hot set. Bounded in entries and in the length of a text remembered; past the bound
 * it starts over, so a stream of ever-new texts costs one Map insertion each, no more.
 */
import { createHash } from 'node:crypto'
import { readDependencies, type CatalogSnapshot } from './catalog.js'
import * as sql from './sql.js'

/** Texts remembered at most, per table. */
const MAX_ENTRIES = 4096
/** Longer texts are read every time (they are rare, and would make the memo large). */
const MAX_TEXT = 2048

class TextMemo<V> {
  private readonly map = new Map<string, V>()

  get(text: string, compute: (text: string) => V): V {
    if (text.length > MAX_TEXT) return compute(text)
    let v = this.map.get(text)
    if (v === undefined) {
      v = compute(text)
      if (this.map.size >= MAX_ENTRIES) this.map.clear()
      this.map.set(text, v)
    }
    return v
  }

  clear(): void {
    this.map.clear()
  }
}

export class StatementAnalysis {
  private readonly refusals = new TextMemo<sql.Refusal | null>()
  /** Cacheable reads' relations (views expanded), null: not cacheable. Valid for `catalog`. */
  private readonly readsMemo = new TextMemo<string[] | null>()
  private readonly simpleKeys = new TextMemo<string>()
  private catalog: CatalogSnapshot | undefined

  constructor(private readonly currentCatalog: () => CatalogSnapshot) {}

  /** `sql.refusal` of a blanked text. */
  refusal(blanked: string): sql.Refusal | undefined {
    return this.refusals.get(blanked, (t) => sql.refusal(t) ?? null) ?? undefined
  }

  /**
   * What a cacheable read of this blanked text depends on, or undefined if it is not cacheable.
   * Depends on the catalog (function volatility, views): a new snapshot forgets every answer.
   */
  reads(blanked: string): readonly string[] | undefined {
    const catalog = this.currentCatalog()
    if (catalog !== this.catalog) {
      this.readsMemo.clear()
      this.catalog = catalog
    }
    return (
      this.readsMemo.get(blanked, (t) => {
        const info = sql.readInfo(t, catalog.volatility)
        if (!info.cacheable || info.relations === null) return null
        return readDependencies(catalog, info.relations)
      }) ?? undefined
    )
  }

  /** The cache key of a simple Query with this text (a hash: Redis keys stay short). */
  simpleKey(text: string): string {
    return this.simpleKeys.get(text, (t) =>
      createHash('sha256').update('Q\0').update(t).digest('base64')
    )
  }
}
