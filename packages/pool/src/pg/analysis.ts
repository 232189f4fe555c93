/**
 * What the pooler reads from a statement's text, remembered per text for the whole pooler
 * (core/text-memo.ts): refusals, cacheable reads' relations (per catalog snapshot) and the cache
 * keys of simple Queries.
 */
import { createHash } from 'node:crypto'
import { TextMemo } from '../core/text-memo.js'
import { readDependencies, type CatalogSnapshot } from './catalog.js'
import * as sql from './sql.js'

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
