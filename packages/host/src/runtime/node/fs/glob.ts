/**
 * `fs.globSync`, `fs.glob` and `fs/promises` `glob` as workerd 1.20261117.1 answers them: patterns
 * are relative to `cwd` (default `/bundle`, workerd's working directory); an absolute pattern or
 * one with `..` matches nothing; `*` also matches dot files; results come in the tree's order,
 * with `**` trying the rest of the pattern in a directory before going down into it.
 */
import { currentSpace, lookup, type DirNode } from './tree.js'
import { Dirent, pathOf } from './sync.js'

const MAX_RESULTS = 100_000
const MAX_PATTERNS = 256
const MAX_DEPTH = 64

/** `{a,b}` alternatives expanded (bounded), innermost first. */
function expandBraces(pattern: string, out: string[]): void {
  const match = /\{([^{}]*)\}/.exec(pattern)
  if (match === null || !match[1]?.includes(',')) {
    if (out.length < MAX_PATTERNS) out.push(pattern)
    return
  }
  for (const choice of match[1].split(',')) {
    if (out.length >= MAX_PATTERNS) return
    expandBraces(
      pattern.slice(0, match.index) + choice + pattern.slice(match.index + match[0].length),
      out
    )
  }
}

function segmentRegex(segment: string): RegExp {
  let source = ''
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] ?? ''
    if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else if (c === '[') {
      const end = segment.indexOf(']', i + 1)
      if (end === -1) source += '\\['
      else {
        const body = segment
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/[\\\]]/g, '\\$&')
        source += `[${body}]`
        i = end
      }
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

interface GlobOptions {
  cwd?: unknown
  withFileTypes?: boolean
  exclude?: (entry: string | Dirent) => boolean
}

export function globSync(pattern: unknown, options?: unknown): (string | Dirent)[] {
  const opts = (typeof options === 'object' && options !== null ? options : {}) as GlobOptions
  const cwd = opts.cwd === undefined ? '/bundle' : pathOf(opts.cwd, 'cwd')
  const patterns: string[] = []
  for (const p of Array.isArray(pattern) ? (pattern as unknown[]) : [pattern]) {
    if (typeof p !== 'string')
      throw Object.assign(new TypeError('The "pattern" argument must be of type string'), {
        code: 'ERR_INVALID_ARG_TYPE',
      })
    expandBraces(p, patterns)
  }
  const found = lookup(currentSpace(), cwd, true, 'glob')
  const results = new Map<string, string | Dirent>()
  if (found.node?.kind !== 'dir') return []
  const base = found.path
  const excluded = (rel: string, entry: Dirent): boolean =>
    typeof opts.exclude === 'function' && opts.exclude(opts.withFileTypes === true ? entry : rel)
  const add = (rel: string, entry: Dirent): void => {
    if (results.size < MAX_RESULTS && !results.has(rel) && !excluded(rel, entry))
      results.set(rel, opts.withFileTypes === true ? entry : rel)
  }
  const walk = (dir: DirNode, rel: string, segments: readonly string[], depth: number): void => {
    const [segment, ...rest] = segments
    if (segment === undefined || depth > MAX_DEPTH || results.size >= MAX_RESULTS) return
    const at = rel === '' ? base : `${base}/${rel}`
    const join = (name: string): string => (rel === '' ? name : `${rel}/${name}`)
    if (segment === '**') {
      if (rest.length > 0) walk(dir, rel, rest, depth + 1)
      for (const [name, node] of dir.entries) {
        const entry = new Dirent(name, at, node.kind)
        if (excluded(join(name), entry)) continue
        if (rest.length === 0) add(join(name), entry)
        if (node.kind === 'dir') walk(node, join(name), segments, depth + 1)
      }
      return
    }
    const regex = segmentRegex(segment)
    for (const [name, node] of dir.entries) {
      if (!regex.test(name)) continue
      const entry = new Dirent(name, at, node.kind)
      if (rest.length === 0) add(join(name), entry)
      else if (node.kind === 'dir' && !excluded(join(name), entry))
        walk(node, join(name), rest, depth + 1)
    }
  }
  for (const p of patterns) {
    const segments = p.split('/').filter((s) => s !== '' && s !== '.')
    // workerd: absolute patterns and `..` match nothing.
    if (p.startsWith('/') || segments.includes('..')) continue
    walk(found.node, '', segments, 0)
  }
  return [...results.values()]
}
