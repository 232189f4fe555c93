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
  /** A simple Query's text: what every arrival of it needs, read once. */
  private readonly queries = new TextMemo<QueryFacts>()
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

  /**
   * A simple Query's text read once for every later arrival: one lookup by the text as received
   * answers the refusal check, the cacheable read and the cache key (where a message used to
   * blank its text and look it up once per question).
   */
  query(text: string): QueryFacts {
    return this.queries.get(text, (t) => {
      // Not through `refusal()`: a stream of ever-new texts (pgbench -S) costs one insertion.
      const blankedText = sql.blank(t)
      return new QueryFacts(t, blankedText, sql.refusal(blankedText))
    })
  }

  /** `reads()` of a simple Query, kept with its facts while the catalog snapshot holds. */
  queryReads(facts: QueryFacts): readonly string[] | undefined {
    const catalog = this.currentCatalog()
    if (facts.readsCatalog !== catalog) {
      facts.reads = this.reads(facts.blanked)
      facts.readsCatalog = catalog
    }
    return facts.reads
  }
}

export class QueryFacts {
  reads: readonly string[] | undefined
  readsCatalog: CatalogSnapshot | undefined
  private cacheKey: string | undefined

  constructor(
    readonly text: string,
    readonly blanked: string,
    readonly refusal: sql.Refusal | undefined
  ) {}

  /** The cache key of a simple Query with this text (a hash: Redis keys stay short). */
  get key(): string {
    return (this.cacheKey ??= createHash('sha256').update('Q\0').update(this.text).digest('base64'))
  }
}
