/**
 * Just enough MySQL reading for a pooler: statements, which ones change session state (so the
 * connection stays with its client), which are refused, which reads may be cached and which
 * tables a write touches. Strings, comments and quoted identifiers are blanked first; the bodies
 * of executable comments (`/*! ... *\/`) are kept, since MySQL runs them.
 */
import { TextMemo } from '../core/text-memo.js'

const MAX_SQL = 1_000_000

/** Blanks string literals and comments (same length); backquoted names keep only name chars. */
export function blank(sql: string): string {
  if (!/['"`#]|--|\/\*/.test(sql)) return sql
  let out = ''
  let i = 0
  const n = Math.min(sql.length, MAX_SQL)
  while (i < n) {
    const c = sql[i] ?? ''
    const next = sql[i + 1] ?? ''
    if (c === '#' || (c === '-' && next === '-' && /[\s]/.test(sql[i + 2] ?? ' '))) {
      const end = sql.indexOf('\n', i)
      const stop = end < 0 ? n : end
      out += ' '.repeat(stop - i)
      i = stop
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2)
      const stop = end < 0 ? n : end + 2
      const executable = /^\/\*M?!\d*/.exec(sql.slice(i, i + 12))
      if (executable) {
        // Keep the body: MySQL executes it. Blank the markers only.
        const body = sql.slice(i + executable[0].length, end < 0 ? n : end)
        out += ' '.repeat(executable[0].length) + blank(body) + (end < 0 ? '' : '  ')
      } else out += ' '.repeat(stop - i)
      i = stop
    } else if (c === "'" || c === '"') {
      let j = i + 1
      while (j < n) {
        if (sql[j] === '\\') j += 2
        else if (sql[j] === c && sql[j + 1] === c) j += 2
        else if (sql[j] === c) break
        else j++
      }
      const stop = Math.min(j, n)
      out += "'" + ' '.repeat(Math.max(0, stop - i - 1)) + (j < n ? "'" : '')
      i = stop + 1
    } else if (c === '`') {
      let j = i + 1
      while (j < n && !(sql[j] === '`' && sql[j + 1] !== '`')) j += sql[j] === '`' ? 2 : 1
      const inner = sql.slice(i + 1, Math.min(j, n)).replace(/[^A-Za-z0-9_$]/g, '_')
      out += '`' + inner + (j < n ? '`' : '')
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Statements of a blanked string, split at semicolons. */
export function statements(blanked: string): string[] {
  return blanked
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

const firstWord = (stmt: string): string =>
  (/^[\s(]*([a-z_]+)/i.exec(stmt)?.[1] ?? '').toLowerCase()

/** What transaction pooling cannot offer, and Hyperdrive refuses too. */
export function refusal(stmts: readonly string[]): string | undefined {
  for (const stmt of stmts) {
    const word = firstWord(stmt)
    if (word === 'prepare' || (word === 'execute' && !/^\s*execute\s+immediate/i.test(stmt)))
      return 'SQL-level PREPARE/EXECUTE (use protocol-level prepared statements)'
    if (word === 'deallocate' || /^\s*drop\s+prepare\b/i.test(stmt))
      return 'SQL-level DEALLOCATE PREPARE'
    if (word === 'load' && /\blocal\b/i.test(stmt.slice(0, 40))) return 'LOAD DATA LOCAL INFILE'
    if (word === 'use' && stmts.length > 1) return 'USE inside a multi-statement query'
    if (word === 'kill' && stmts.length > 1) return 'KILL inside a multi-statement query'
  }
  return undefined
}

/**
 * `KILL [HARD|SOFT] [CONNECTION|QUERY] id` (one blanked statement): the connection id and whether
 * only its statement is meant. `'other'` for the KILL forms a pooler cannot map to a client
 * (`KILL QUERY ID`, `KILL USER`); undefined when the statement is no KILL.
 */
export function killTarget(stmt: string): { id: number; query: boolean } | 'other' | undefined {
  if (firstWord(stmt) !== 'kill') return undefined
  const m = /^\s*kill\s+(?:(?:hard|soft)\s+)?(?:(connection|query)\s+)?(\d{1,10})\s*$/i.exec(stmt)
  if (!m) return 'other'
  const id = Number(m[2])
  if (id > 0xffffffff) return 'other'
  return { id, query: m[1]?.toLowerCase() === 'query' }
}

/** `USE db` alone: the schema it selects, else undefined. */
export function useTarget(sql: string): string | undefined {
  const m = /^\s*use\s+(`(?:[^`]|``)+`|[A-Za-z0-9_$]+)\s*;?\s*$/i.exec(sql)
  const name = m?.[1]
  if (name === undefined) return undefined
  return name.startsWith('`') ? name.slice(1, -1).replace(/``/g, '`') : name
}

export interface StateEffect {
  /** Session state that outlives the statement: keep the connection, reset before reuse. */
  readonly pins: boolean
  readonly locksTables: boolean
  readonly unlocksTables: boolean
}

/** Session-state changes: SET (incl. user variables), `:=`, INTO @var, LOCK TABLES, GET_LOCK... */
export function stateEffect(stmts: readonly string[]): StateEffect {
  let pins = false
  let locksTables = false
  let unlocksTables = false
  for (const stmt of stmts) {
    const word = firstWord(stmt)
    if (word === 'set' && !/^\s*set\s+(global|persist|persist_only)\b/i.test(stmt)) pins = true
    if (/@[a-z0-9_$.]*\s*:=/i.test(stmt) || /\binto\s+@/i.test(stmt)) pins = true
    if (/\b(get_lock|is_used_lock|release_lock|release_all_locks)\s*\(/i.test(stmt)) pins = true
    if (/^\s*create\s+(or\s+replace\s+)?temporary\s+table/i.test(stmt)) pins = true
    if (word === 'handler' || word === 'xa') pins = true
    if (/^\s*lock\s+tables?\b/i.test(stmt)) locksTables = true
    if (/^\s*unlock\s+tables?\b/i.test(stmt)) unlocksTables = true
  }
  return { pins, locksTables, unlocksTables }
}

// Built-in functions whose result depends only on their arguments: safe in a cached read.
const DETERMINISTIC = new Set(
  (
    'abs acos asin atan atan2 ceil ceiling cos cot crc32 degrees exp floor ln log log10 log2 mod pi ' +
    'pow power radians round sign sin sqrt tan truncate conv bin hex unhex oct ' +
    'ascii bit_length char_length character_length concat concat_ws elt export_set field find_in_set ' +
    'format insert instr lcase left length locate lower lpad ltrim make_set mid octet_length ord ' +
    'position quote repeat replace reverse right rpad rtrim soundex space strcmp substr substring ' +
    'substring_index trim ucase upper regexp_replace regexp_substr regexp_instr regexp_like ' +
    'count sum avg min max group_concat bit_and bit_or bit_xor std stddev stddev_pop stddev_samp ' +
    'var_pop var_samp variance json_arrayagg json_objectagg ' +
    'if ifnull nullif coalesce greatest least isnull interval ' +
    'cast convert binary date time timestamp year month day dayofmonth dayofweek dayofyear hour ' +
    'minute second microsecond week weekday weekofyear yearweek quarter monthname dayname ' +
    'date_format time_format datediff timediff date_add date_sub adddate subdate addtime subtime ' +
    'extract from_days to_days to_seconds makedate maketime period_add period_diff str_to_date ' +
    'sec_to_time time_to_sec last_day ' +
    'json_extract json_unquote json_object json_array json_contains json_contains_path json_keys ' +
    'json_length json_type json_valid json_value json_quote json_set json_insert json_replace ' +
    'json_remove json_merge json_merge_patch json_merge_preserve json_search json_depth ' +
    'md5 sha sha1 sha2 to_base64 from_base64 inet_aton inet_ntoa inet6_aton inet6_ntoa ' +
    'row_number rank dense_rank ntile lag lead first_value last_value nth_value percent_rank cume_dist'
  ).split(' ')
)

// Built-ins that are never cacheable but do not write: reading them needs no invalidation.
const NONDETERMINISTIC = new Set(
  (
    'now sysdate curdate curtime current_date current_time current_timestamp localtime ' +
    'localtimestamp utc_date utc_time utc_timestamp unix_timestamp rand uuid uuid_short ' +
    'last_insert_id row_count found_rows connection_id user current_user session_user ' +
    'system_user database schema version benchmark sleep get_lock is_free_lock is_used_lock ' +
    'release_lock master_pos_wait random_bytes nextval lastval setval from_unixtime ' +
    'convert_tz current_role'
  ).split(' ')
)

// Words before '(' that are syntax, not calls.
const SYNTAX = new Set(
  (
    'in exists values select from join on and or not where as using over partition by ' +
    'when then else case into is like between union all any some distinct with recursive ' +
    'lateral char varchar decimal numeric signed unsigned key index table tables'
  ).split(' ')
)

// Value functions written without parentheses.
const BARE_VALUES =
  /\b(current_date|current_time|current_timestamp|localtime|localtimestamp|current_user|utc_date|utc_time|utc_timestamp|current_role)\b/i

const SYSTEM_SCHEMAS = new Set(['information_schema', 'performance_schema', 'mysql', 'sys'])

export interface ReadInfo {
  readonly cacheable: boolean
  /** Tables read (lowercased, no schema). */
  readonly tables: readonly string[]
  /** Calls something that is not a known built-in (a stored function may write). */
  readonly unknownCalls: boolean
}

const IDENT = '(`[^`]*`|[a-z_$][a-z0-9_$]*)(?:\\s*\\.\\s*(`[^`]*`|[a-z_$][a-z0-9_$]*))?'

function tableName(first: string | undefined, second: string | undefined): [string, string] {
  const strip = (s: string): string => (s.startsWith('`') ? s.slice(1, -1) : s).toLowerCase()
  if (second !== undefined) return [strip(first ?? ''), strip(second)]
  return ['', strip(first ?? '')]
}

/** One read statement (blanked). */
export function readInfo(stmt: string, count = 1): ReadInfo {
  const word = firstWord(stmt)
  let cacheable = count === 1 && (word === 'select' || word === 'with')
  if (
    /\b(for\s+update|for\s+share|lock\s+in\s+share\s+mode|into|insert|update|delete|replace)\b/i.test(
      stmt
    ) ||
    /@/.test(stmt) ||
    BARE_VALUES.test(stmt)
  ) {
    cacheable = false
  }
  let unknownCalls = false
  for (const m of stmt.matchAll(/([a-z_][a-z0-9_$]*)\s*\(/gi)) {
    const name = (m[1] ?? '').toLowerCase()
    if (SYNTAX.has(name) || DETERMINISTIC.has(name)) continue
    cacheable = false
    if (!NONDETERMINISTIC.has(name)) unknownCalls = true
  }
  const tables = new Set<string>()
  for (const m of stmt.matchAll(new RegExp(`\\b(?:from|join)\\s+${IDENT}`, 'gi'))) {
    const [schema, name] = tableName(m[1], m[2])
    if (SYSTEM_SCHEMAS.has(schema) || name === 'dual') {
      if (name !== 'dual') cacheable = false
      continue
    }
    tables.add(name)
  }
  // FROM a, b: names after commas up to the next clause.
  for (const m of stmt.matchAll(
    /\bfrom\s+([^()]*?)(?=\bwhere\b|\bgroup\b|\border\b|\blimit\b|\bhaving\b|$)/gi
  )) {
    for (const part of (m[1] ?? '').split(',').slice(1)) {
      const t = new RegExp(`^\\s*${IDENT}`, 'i').exec(part)
      if (t) {
        const [schema, name] = tableName(t[1], t[2])
        if (SYSTEM_SCHEMAS.has(schema)) cacheable = false
        else tables.add(name)
      }
    }
  }
  return { cacheable, tables: [...tables], unknownCalls }
}

const NO_WRITE = new Set(
  (
    'begin start commit rollback savepoint release set show explain describe desc use lock unlock ' +
    'xa kill help handler do_not_write checksum check analyze'
  ).split(' ')
)

/** Tables a statement list writes, 'all' when it cannot tell (DDL, CALL, stored functions). */
export function writes(stmts: readonly string[]): readonly string[] | 'all' {
  const tables: string[] = []
  for (const stmt of stmts) {
    const word = firstWord(stmt)
    if (NO_WRITE.has(word)) continue
    if (word === 'select' || word === 'with' || word === 'values' || word === 'table') {
      if (/\binto\s+(outfile|dumpfile)\b/i.test(stmt)) continue
      if (readInfo(stmt).unknownCalls) return 'all'
      continue
    }
    let m: RegExpExecArray | null = null
    if (word === 'insert' || word === 'replace')
      m = new RegExp(
        `^\\s*(?:insert|replace)\\s+(?:low_priority\\s+|delayed\\s+|high_priority\\s+|ignore\\s+)*(?:into\\s+)?${IDENT}`,
        'i'
      ).exec(stmt)
    else if (word === 'update' && !/\bjoin\b|,/i.test(stmt.split(/\bset\b/i)[0] ?? ''))
      m = new RegExp(`^\\s*update\\s+(?:low_priority\\s+|ignore\\s+)*${IDENT}`, 'i').exec(stmt)
    else if (word === 'delete' && !/\bjoin\b|\busing\b/i.test(stmt))
      m = new RegExp(
        `^\\s*delete\\s+(?:low_priority\\s+|quick\\s+|ignore\\s+)*from\\s+${IDENT}`,
        'i'
      ).exec(stmt)
    else if (word === 'truncate')
      m = new RegExp(`^\\s*truncate\\s+(?:table\\s+)?${IDENT}`, 'i').exec(stmt)
    if (!m) return 'all'
    // Calls after the target (its column list is not one) may be stored functions that write.
    if (readInfo(stmt.slice(m[0].length)).unknownCalls) return 'all'
    tables.push(tableName(m[1], m[2])[1])
  }
  return tables
}

/** Everything the session asks about one COM_QUERY or prepared statement text. */
export interface Analysis {
  readonly stmts: readonly string[]
  readonly refusal: string | undefined
  /** Set for a single statement (the only kind the cache stores). */
  readonly read: ReadInfo | undefined
  readonly effect: StateEffect
  readonly writes: readonly string[] | 'all'
}

// Applications send the same few texts over and over (prepared statements above all): reading
// them once saves the regular expressions on every execute (core/text-memo.ts, as pg/analysis.ts).
const memo = new TextMemo<Analysis>(2_000, 4_096)

function analyzeText(text: string): Analysis {
  const stmts = statements(blank(text))
  return {
    stmts,
    refusal: refusal(stmts),
    read: stmts.length === 1 ? readInfo(stmts[0] ?? '', 1) : undefined,
    effect: stateEffect(stmts),
    writes: writes(stmts),
  }
}

export function analyze(text: string): Analysis {
  return memo.get(text, analyzeText)
}
