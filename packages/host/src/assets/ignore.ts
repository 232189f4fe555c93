/**
 * `.assetsignore` in the assets directory: gitignore-style patterns (`#` comments, `!` negation,
 * a pattern without `/` matches a name at any depth, a trailing `/` matches a directory). The
 * file itself is never served, as in wrangler.
 */
export type Ignore = (relativePath: string) => boolean

function patternToRegExp(pattern: string): RegExp {
  let p = pattern.replace(/\/$/, '')
  const anchored = p.includes('/')
  p = p.replace(/^\//, '')
  let out = ''
  for (let i = 0; i < p.length; i++) {
    const c = p[i] ?? ''
    if (c === '*' && p[i + 1] === '*') {
      out += '.*'
      i++
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  // A match also covers everything under a matched directory.
  return new RegExp(`${anchored ? '^' : '(?:^|/)'}${out}(?:/.*)?$`)
}

export function parseIgnore(text: string): Ignore {
  const rules = text
    .split(/\r?\n/)
    .slice(0, 10_000)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => ({ negate: l.startsWith('!'), re: patternToRegExp(l.replace(/^!/, '')) }))
  return (path) => {
    if (path === '.assetsignore') return true
    let ignored = false
    for (const rule of rules) if (rule.re.test(path)) ignored = !rule.negate
    return ignored
  }
}
