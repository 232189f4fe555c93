/**
 * The cache front of a PostgreSQL session: recognises a cacheable request (a simple Query, or
 * pg's unnamed `P B D E S` / `B D E S` on a named statement), keys it, answers it from the cache,
 * and otherwise captures the origin's reply to store it.
 */
import { createHash } from 'node:crypto'
import type { CachedResult, QueryCache, StoreToken } from '../core/cache.js'
import type { StatementAnalysis } from './analysis.js'
import { blanked, type ClientMessage, type QueryMessage } from './frontend.js'
import * as m from './protocol.js'
import * as sql from './sql.js'
import type { StatementRewriter } from './statements.js'
import { MessageWriter, type Frame } from './wire.js'

/** What a cacheable request was, to key it and to replay it for stale-while-revalidate. */
export interface CacheRequest {
  readonly key: string
  readonly simple: boolean
  readonly describe: boolean
  readonly parse: boolean
  readonly relations: readonly string[]
  /**
   * Messages that re-run it on any origin connection (unnamed statement, ends with Sync); built
   * only when a refresh needs them, not on every hit.
   */
  replay(): Buffer
}

interface Capture {
  readonly request: CacheRequest
  /** The cache's invalidation mark before the request went to the origin. */
  readonly mark: number
  /** From the shared store's lookup that missed: lets the result be shared (see RedisStore). */
  storeToken?: StoreToken
  description?: Buffer
  rows: Buffer[]
  bytes: number
  ok: boolean
}

const PORTAL = 0x50

export class CacheFront {
  private capture: Capture | undefined

  constructor(
    private readonly cache: QueryCache,
    private readonly analysis: StatementAnalysis,
    private readonly statements: StatementRewriter,
    /** Stale-while-revalidate: re-run the request in the background. */
    private readonly refresh: (key: string, request: CacheRequest) => void,
    private readonly onServed: () => void
  ) {}

  /** The request being captured, if any (its reply is on the way). */
  get pending(): CacheRequest | undefined {
    return this.capture?.request
  }

  /** A cacheable request starting at `messages[start]`, and how many messages it spans. */
  recognise(
    messages: readonly ClientMessage[],
    start: number
  ): { request: CacheRequest; length: number } | undefined {
    const first = messages[start]
    if (first?.type === 'Q') {
      const request = this.simple(first)
      return request && { request, length: 1 }
    }
    return this.extended(messages, start)
  }

  private simple(msg: QueryMessage): CacheRequest | undefined {
    const facts = this.analysis.query(msg.text)
    const relations = this.analysis.queryReads(facts)
    if (!relations) return undefined
    const key = facts.key
    return {
      key,
      simple: true,
      describe: true,
      parse: false,
      relations,
      replay: () => msg.frame.raw,
    }
  }

  private extended(
    messages: readonly ClientMessage[],
    start: number
  ): { request: CacheRequest; length: number } | undefined {
    let i = start
    let text: string | undefined
    let types: readonly number[] = []
    let parse = false
    const f0 = messages[i]
    let blankedText: string | undefined
    if (f0?.type === 'P') {
      if (f0.name !== '') return undefined
      text = f0.text
      types = f0.types
      blankedText = blanked(f0)
      parse = true
      i++
    }
    const bind = messages[i]
    if (bind?.type !== 'B' || bind.portal !== '') return undefined
    if (bind.statement !== '') {
      if (parse) return undefined
      const st = this.statements.get(bind.statement)
      if (!st) return undefined
      text = st.text
      types = st.types
    } else if (!parse) return undefined
    i++
    let describe = false
    const d = messages[i]
    if (d?.type === 'D') {
      if (d.target !== PORTAL) return undefined
      describe = true
      i++
    }
    const exec = messages[i]
    // Row limits make partial results: not cached.
    if (exec?.type !== 'E' || exec.maxRows !== 0) return undefined
    i++
    if (messages[i]?.type !== 'S') return undefined
    i++
    if (text === undefined) return undefined
    const relations = this.analysis.reads(blankedText ?? sql.blank(text))
    if (!relations) return undefined
    const key = createHash('sha256')
      .update(`E\0${describe ? 'D' : '-'}\0${text}\0${types.join(',')}\0`)
      .update(bind.rest)
      .digest('base64')
    const statementText = text
    const replay = (): Buffer =>
      Buffer.concat([
        m.parse('', statementText, types),
        new MessageWriter().cstring('').cstring('').bytes(bind.rest).build('B'),
        m.DESCRIBE_UNNAMED_PORTAL,
        m.EXECUTE_UNNAMED_PORTAL,
        m.SYNC,
      ])
    return {
      request: { key, simple: false, describe, parse, relations, replay },
      length: i - start,
    }
  }

  /** Answers from memory; false on a miss (or an entry that cannot answer this request). */
  serve(request: CacheRequest, write: (data: Buffer) => void): boolean {
    const hit = this.cache.get(request.key)
    if (!hit) return false
    const { result } = hit
    if (request.describe && !result.description) return false
    const out: Buffer[] = []
    if (!request.simple) {
      if (request.parse) out.push(m.PARSE_COMPLETE)
      out.push(m.BIND_COMPLETE)
    }
    if (request.describe && result.description) out.push(result.description)
    out.push(result.rows, m.READY.I)
    write(Buffer.concat(out))
    this.onServed()
    if (hit.shouldRefresh) this.refresh(request.key, request)
    return true
  }

  /** The request goes to the origin: keep its reply. */
  begin(request: CacheRequest): void {
    this.capture = { request, mark: this.cache.mark(), rows: [], bytes: 0, ok: true }
  }

  drop(): void {
    this.capture = undefined
  }

  /**
   * Asks the shared store (Redis) for the pending request. True when it was found and is now in
   * memory, so the request can be answered by `serve`. `stillWanted` is checked after the wait.
   */
  async fromStore(stillWanted: () => boolean): Promise<boolean> {
    const store = this.cache.store
    const c = this.capture
    if (!store || !c) return false
    const { found, token } = await store.get(c.request.key, c.request.relations)
    if (this.capture !== c) return false
    c.storeToken = token
    if (!found || !stillWanted()) return false
    // Another pooler's invalidation heard during the lookup: what Redis held may predate it.
    if (this.cache.changedSince(c.request.relations, c.mark)) return false
    if (!this.cache.set(c.request.key, found.result, found.storedAt, true)) return false
    this.capture = undefined
    return true
  }

  onOriginFrame(frame: Frame): void {
    const c = this.capture
    if (!c?.ok) return
    switch (frame.type) {
      case 'T':
        c.description = frame.raw
        return
      case 'D':
      case 'C':
        c.rows.push(frame.raw)
        c.bytes += frame.raw.length
        if (c.bytes > this.cache.options.maxEntryBytes) c.ok = false
        return
      case '1':
      case '2':
      case 'Z':
      case 'N':
      case 'S':
        return
      default:
        c.ok = false
    }
  }

  /** ReadyForQuery: store the captured reply if it is whole and outside a transaction. */
  finish(txStatus: 'I' | 'T' | 'E'): void {
    const c = this.capture
    this.capture = undefined
    if (!c?.ok || txStatus !== 'I' || c.rows.length === 0) return
    // A write was seen (here or in the WAL) while this ran: the rows may predate it.
    if (this.cache.changedSince(c.request.relations, c.mark)) return
    const result: CachedResult = {
      description: c.description,
      rows: Buffer.concat(c.rows),
      relations: c.request.relations,
    }
    this.cache.set(c.request.key, result, Date.now(), false, c.storeToken)
  }
}
