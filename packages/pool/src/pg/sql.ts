/**
 * Just enough SQL reading for a pooler: statement kinds, session-state changes that must be
 * refused or reset, cacheability and the tables a statement reads or writes. Comments and string
 * literals are blanked first, so a function name inside a comment does not matter (Hyperdrive's
 * text matching trips on those).
 */

/** Replaces comments, string literals and quoted identifiers' insides with spaces (same length). */
export function blank(sql: string): string {
  // Most statements have nothing to blank: skip the character walk.
  if (!/['"$]|--|\/\*/.test(sql)) return sql
  let out = ''
  let i = 0
  const n = Math.min(sql.length, 1_000_000)
  while (i < n) {
    const c = sql[i] ?? ''
    const next = sql[i + 1] ?? ''
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i)
      const stop = end < 0 ? n : end
      out += ' '.repeat(stop - i)
      i = stop
    } else if (c === '/' && next === '*') {
      // Postgres block comments nest.
      let depth = 0
      let j = i
      while (j < n) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++
          j += 2
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--
          j += 2
          if (depth === 0) break
        } else j++
      }
      out += ' '.repeat(j - i)
      i = j
    } else if (c === "'") {
      let j = i + 1
      while (j < n) {
        if (sql[j] === "'" && sql[j + 1] === "'") j += 2
        else if (sql[j] === "'") break
        else j++
      }
      out += "'" + ' '.repeat(Math.max(0, j - i - 1)) + "'"
      i = j + 1
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))?.[0] ?? '$$'
      const end = sql.indexOf(tag, i + tag.length)
      const stop = end < 0 ? n : end + tag.length
      out += "'" + ' '.repeat(Math.max(0, stop - i - 2)) + "'"
      i = stop
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Statements of a (blanked) simple-query string, split at top-level semicolons. */
export function statements(blanked: string): string[] {
  return blanked
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

const firstWord = (stmt: string): string =>
  (/^[\s(]*([a-z_]+)/i.exec(stmt)?.[1] ?? '').toLowerCase()

export interface Refusal {
  readonly what: string
}

/** Every refusal below needs one of these words: most statements have none of them. */
const REFUSAL_WORDS =
  /listen|prepare|execute|deallocate|discard|session|advisory|declare|temp|load/i

/** Session features transaction pooling cannot offer (Hyperdrive refuses the same ones). */
export function refusal(blanked: string): Refusal | undefined {
  if (!REFUSAL_WORDS.test(blanked)) return undefined
  for (const stmt of statements(blanked)) {
    const word = firstWord(stmt)
    const lower = stmt.toLowerCase()
    if (word === 'listen' || word === 'unlisten') return { what: 'LISTEN/UNLISTEN' }
    if (word === 'prepare' || word === 'execute' || word === 'deallocate') {
      return {
        what: 'SQL-level PREPARE/EXECUTE/DEALLOCATE (use protocol-level prepared statements)',
      }
    }
    if (word === 'discard') return { what: 'DISCARD' }
    if (/^\s*set\s+session\s+authorization/i.test(stmt))
      return { what: 'SET SESSION AUTHORIZATION' }
    if (
      /\bpg_(try_)?advisory_lock(_shared)?\s*\(/i.test(lower) ||
      /\bpg_advisory_unlock/i.test(lower)
    ) {
      return { what: 'session-level advisory locks (pg_advisory_xact_lock works)' }
    }
    if (word === 'declare' && /\bwith\s+hold\b/i.test(stmt)) return { what: 'cursors WITH HOLD' }
    if (
      /^\s*create\s+(global\s+|local\s+)?temp(orary)?\s+table/i.test(stmt) &&
      !/on\s+commit\s+drop/i.test(stmt)
    ) {
      return { what: 'temporary tables that outlive the transaction (use ON COMMIT DROP)' }
    }
    if (word === 'load') return { what: 'LOAD' }
  }
  return undefined
}

/** SET/RESET or set_config(): the connection must be reset before another client gets it. */
export function changesSession(blanked: string): boolean {
  // SET, RESET and set_config all contain "set".
  if (!/set/i.test(blanked)) return false
  return statements(blanked).some((s) => {
    const w = firstWord(s)
    return (
      (w === 'set' && !/^\s*set\s+local\b/i.test(s)) ||
      w === 'reset' ||
      /\bset_config\s*\(/i.test(s)
    )
  })
}

/** DDL that may change what the catalog snapshot says (functions, views, triggers, tables). */
export function changesSchema(blanked: string): boolean {
  return statements(blanked).some((s) => {
    const w = firstWord(s)
    return w === 'create' || w === 'alter' || w === 'drop'
  })
}

/** Volatility of functions by name, from the origin's pg_proc ('i' | 's' | 'v', worst overload). */
export type Volatility = ReadonlyMap<string, 'i' | 's' | 'v'>

// Words followed by '(' that are syntax, not function calls.
const NOT_FUNCTIONS = new Set([
  'in',
  'any',
  'all',
  'some',
  'exists',
  'values',
  'array',
  'row',
  'over',
  'filter',
  'as',
  'from',
  'join',
  'on',
  'and',
  'or',
  'not',
  'where',
  'select',
  'using',
  'cast',
  'coalesce',
  'nullif',
  'greatest',
  'least',
  'case',
  'when',
  'then',
  'else',
  'group',
  'by',
  'having',
  'lateral',
  'window',
  'partition',
  'within',
  'numeric',
  'decimal',
  'varchar',
  'char',
  'character',
  'varying',
  'bit',
  'time',
  'timestamp',
  'interval',
  'float',
  'precision',
  'into',
  'is',
  'like',
  'ilike',
  'between',
  'limit',
  'offset',
  'union',
  'intersect',
  'except',
  'with',
  'recursive',
  'table',
  'only',
  'distinct',
  'order',
  'asc',
  'desc',
  'nulls',
  'first',
  'last',
  'fetch',
  'next',
  'rows',
  'range',
  'groups',
  'preceding',
  'following',
  'unbounded',
  'current',
  // Write syntax: ON CONFLICT (...), SET (a, b) = (...), MERGE's INSERT (...), RETURNING (...).
  'conflict',
  'set',
  'insert',
  'update',
  'returning',
  'do',
  'nothing',
  'references',
  'check',
  'unique',
  'primary',
  'key',
  'default',
  'sets',
  'cube',
  'rollup',
  'grouping',
  'tablesample',
  'repeatable',
])

// SQL value functions written without parentheses: stable or worse, never cacheable.
const VALUE_FUNCTIONS =
  /\b(current_date|current_time|current_timestamp|localtime|localtimestamp|current_user|session_user|current_role|current_schema|current_catalog|user)\b/i

/** A Unicode-escaped identifier (U&"..."), found by libpg-query (bench/pool/parser-eval.ts). */
const UNICODE_IDENT = /\bu&\s*"/i

export interface ReadInfo {
  /** Safe to serve from the cache. */
  readonly cacheable: boolean
  /** Relations named after FROM/JOIN (lowercased, without schema), or null if unknown. */
  readonly relations: readonly string[] | null
  /** Calls a volatile function (may write): invalidate everything. */
  readonly volatile: boolean
}

/**
 * Volatile functions that write no table: calling them makes a statement uncacheable, not a
 * write. nextval/setval change only sequences, which are never cached (catalog.ts).
 */
const READ_ONLY_VOLATILE = new Set([
  'random',
  'random_normal',
  'setseed',
  'gen_random_uuid',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'clock_timestamp',
  'timeofday',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'txid_current',
  'pg_current_xact_id',
  'pg_notify',
  'set_config',
  'pg_advisory_xact_lock',
  'pg_advisory_xact_lock_shared',
  'pg_try_advisory_xact_lock',
  'pg_try_advisory_xact_lock_shared',
  'pg_cancel_backend',
  'pg_terminate_backend',
  'nextval',
  'setval',
])

/** Index just past the parenthesis that closes the one at `open`, or -1. */
function closeParen(text: string, open: number): number {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    const c = text[i]
    if (c === '(') depth++
    else if (c === ')' && --depth === 0) return i + 1
  }
  return -1
}

/** Function calls of a blanked statement: name (lowercased; quoted names kept) and position. */
function calls(stmt: string): { name: string; quoted: boolean }[] {
  const out: { name: string; quoted: boolean }[] = []
  for (const match of stmt.matchAll(/("[^"]*"|[a-z_][a-z0-9_$]*)\s*\(/gi)) {
    const raw = match[1] ?? ''
    const at = match.index
    const before = stmt.slice(Math.max(0, at - 40), at)
    // `AS alias(col, ...)` and `name(col, ...) AS (` (a CTE's column list) are not calls.
    if (/\bas\s+$/i.test(before)) continue
    const close = closeParen(stmt, at + match[0].length - 1)
    if (close > 0 && /^\s*as\s*(\(|not\b|materialized\b)/i.test(stmt.slice(close, close + 30)))
      continue
    const quoted = raw.startsWith('"')
    const name = quoted ? raw.slice(1, -1) : raw.toLowerCase()
    if (!quoted && NOT_FUNCTIONS.has(name)) continue
    out.push({ name, quoted })
  }
  return out
}

/** Volatile and not known to be read-only; unknown (created since the snapshot, or quoted) too. */
function mayWrite(call: { name: string; quoted: boolean }, volatility: Volatility): boolean {
  const v = call.quoted ? undefined : volatility.get(call.name)
  return (v === undefined || v === 'v') && !READ_ONLY_VOLATILE.has(call.name)
}

/** Looks at one read statement (already blanked). */
export function readInfo(blanked: string, volatility: Volatility): ReadInfo {
  const stmts = statements(blanked)
  const stmt = stmts[0] ?? ''
  const word = firstWord(stmt)
  let cacheable = stmts.length === 1 && ['select', 'with', 'values', 'table'].includes(word)
  if (
    /\b(insert|update|delete|merge|into|for\s+(no\s+key\s+)?update|for\s+(key\s+)?share|nextval|setval)\b/i.test(
      stmt
    )
  ) {
    cacheable = false
  }
  if (VALUE_FUNCTIONS.test(stmt)) cacheable = false
  // U&"d\0061ta" names `data`: the scan cannot read Unicode escapes, so it names nothing.
  if (UNICODE_IDENT.test(stmt)) cacheable = false
  let volatile = false
  for (const call of calls(stmt)) {
    if (call.quoted || volatility.get(call.name) !== 'i') cacheable = false
    if (mayWrite(call, volatility)) volatile = true
  }
  const relations: string[] = []
  for (const match of stmt.matchAll(
    /\b(?:from|join)\s+((?:only\s+)?(?:"[^"]*"|[a-z_][a-z0-9_$]*)(?:\s*\.\s*(?:"[^"]*"|[a-z_][a-z0-9_$]*))?)/gi
  )) {
    relations.push(relationName(match[1] ?? ''))
  }
  // FROM a, b: the comma list after the first relation.
  for (const match of stmt.matchAll(
    /\bfrom\s+[^()]*?(?=\bwhere\b|\bgroup\b|\border\b|\blimit\b|$)/gi
  )) {
    for (const part of (match[0] ?? '')
      .replace(/^from\s+/i, '')
      .split(',')
      .slice(1)) {
      const name =
        /^\s*((?:"[^"]*"|[a-z_][a-z0-9_$]*)(?:\s*\.\s*(?:"[^"]*"|[a-z_][a-z0-9_$]*))?)/i.exec(
          part
        )?.[1]
      if (name) relations.push(relationName(name))
    }
  }
  return { cacheable, relations: cacheable ? relations : null, volatile }
}

const IDENT = '((?:"[^"]*"|[a-z_][a-z0-9_$]*)(?:\\s*\\.\\s*(?:"[^"]*"|[a-z_][a-z0-9_$]*))?)'

/** The targets of INSERT/UPDATE/DELETE/MERGE inside a statement, or 'all' if one is unclear. */
function cteTargets(body: string): string[] | 'all' {
  const keywords = body.match(/\b(insert|update|delete|merge)\b/gi)?.length ?? 0
  const found: string[] = []
  for (const m of body.matchAll(
    new RegExp(
      `\\b(?:insert\\s+into|update\\s+(?:only\\s+)?|delete\\s+from\\s+(?:only\\s+)?|merge\\s+into\\s+(?:only\\s+)?)\\s*${IDENT}`,
      'gi'
    )
  )) {
    found.push(relationName(m[1] ?? ''))
  }
  return found.length === keywords ? found : 'all'
}

function relationName(text: string): string {
  const last =
    text
      .replace(/^only\s+/i, '')
      .split('.')
      .pop() ?? ''
  const t = last.trim()
  return t.startsWith('"') ? t.slice(1, -1) : t.toLowerCase()
}

/**
 * What a statement writes: table names, 'all' when it may write anything we cannot name (DDL,
 * CALL, DO, functions), or none for reads and transaction control.
 */
export function writes(blanked: string, volatility: Volatility): readonly string[] | 'all' {
  const tables: string[] = []
  for (const stmt of statements(blanked)) {
    if (UNICODE_IDENT.test(stmt) && !/^\s*(select|values|table)\b/i.test(stmt)) return 'all'
    const word = firstWord(stmt)
    if (
      [
        'begin',
        'start',
        'commit',
        'end',
        'rollback',
        'abort',
        'savepoint',
        'release',
        'set',
        'reset',
        'show',
        'explain',
        'listen',
        'notify',
        'prepare',
        'deallocate',
        'declare',
        'fetch',
        'close',
        'move',
        'discard',
        'vacuum',
        'analyze',
        'checkpoint',
      ].includes(word)
    ) {
      continue
    }
    if (['select', 'with', 'values', 'table'].includes(word)) {
      // Locking clauses and ON CONFLICT DO UPDATE are not statements of their own.
      const body = stmt.replace(
        /\bfor\s+(no\s+key\s+)?update\b|\bfor\s+(key\s+)?share\b|\bdo\s+update\b/gi,
        ' '
      )
      if (/\b(insert|update|delete|merge)\b/i.test(body)) {
        // A data-modifying CTE: each of them must name its target, or anything may be written.
        const targets = cteTargets(body)
        if (targets === 'all') return 'all'
        tables.push(...targets)
      }
      if (/\binto\b/i.test(body.replace(/\b(insert|merge)\s+into\b/gi, ' '))) return 'all' // SELECT INTO creates a table
      const info = readInfo(stmt, volatility)
      if (info.volatile) return 'all'
      continue
    }
    const target = (re: RegExp): string | undefined => {
      const m = re.exec(stmt)
      return m?.[1] ? relationName(m[1]) : undefined
    }
    const ident = '((?:"[^"]*"|[a-z_][a-z0-9_$]*)(?:\\s*\\.\\s*(?:"[^"]*"|[a-z_][a-z0-9_$]*))?)'
    let t: string | undefined
    if (word === 'insert') t = target(new RegExp(`^\\s*insert\\s+into\\s+${ident}`, 'i'))
    else if (word === 'update') t = target(new RegExp(`^\\s*update\\s+(?:only\\s+)?${ident}`, 'i'))
    else if (word === 'delete')
      t = target(new RegExp(`^\\s*delete\\s+from\\s+(?:only\\s+)?${ident}`, 'i'))
    else if (word === 'merge')
      t = target(new RegExp(`^\\s*merge\\s+into\\s+(?:only\\s+)?${ident}`, 'i'))
    else if (word === 'copy' && /\bfrom\b/i.test(stmt))
      t = target(new RegExp(`^\\s*copy\\s+${ident}`, 'i'))
    else if (word === 'copy')
      continue // COPY ... TO reads
    else if (word === 'truncate') {
      const list =
        stmt
          .replace(/^\s*truncate\s+(table\s+)?/i, '')
          .split(/\b(restart|continue|cascade|restrict)\b/i)[0] ?? ''
      for (const part of list.split(',')) {
        const name = new RegExp(`^\\s*(?:only\\s+)?${ident}`, 'i').exec(part)?.[1]
        if (!name) return 'all'
        tables.push(relationName(name))
      }
      continue
    } else return 'all'
    if (t === undefined) return 'all'
    // The functions a write calls (in VALUES, a SELECT, RETURNING, ...) may write elsewhere. The
    // target's own column list, `t (a, b)`, is not a call.
    const tableName = t
    if (calls(stmt).some((c) => !(c.name === tableName && !c.quoted) && mayWrite(c, volatility)))
      return 'all'
    tables.push(t)
  }
  return tables
}
