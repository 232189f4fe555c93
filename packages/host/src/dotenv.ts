/**
 * Secrets for local development, as wrangler reads them: `.dev.vars.<env>` or `.dev.vars` if
 * either exists (and then no `.env` file), otherwise `.env`, `.env.<env>`, `.env.local` and
 * `.env.<env>.local`, later files overriding earlier ones. Files use dotenv syntax.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { configError } from './errors.js'

const MAX_FILE = 1_000_000
const MAX_ENTRIES = 10_000

/** Parses dotenv text: `KEY=value`, `export KEY=value`, quotes, `#` comments, `\n` in "…". */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const line =
    /^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*('(?:[^'])*'|"(?:\\.|[^"\\])*"|`(?:[^`])*`|[^\n#]*)[ \t]*(?:#[^\n]*)?$/gm
  let count = 0
  for (const m of text.replace(/\r\n?/g, '\n').matchAll(line)) {
    if (++count > MAX_ENTRIES) break
    const key = m[1] ?? ''
    let value = (m[2] ?? '').trim()
    const quote = value[0]
    if (
      (quote === '"' || quote === "'" || quote === '`') &&
      value.endsWith(quote) &&
      value.length >= 2
    ) {
      value = value.slice(1, -1)
      if (quote === '"')
        value = value
          .replace(/\\n/g, '\n')
          .replace(/\\r/g, '\r')
          .replace(/\\(["\\])/g, '$1')
    }
    out[key] = value
  }
  return out
}

function readFile(path: string): Record<string, string> {
  try {
    if (statSync(path).size > MAX_FILE) throw new Error('larger than 1 MB')
    return parseDotenv(readFileSync(path, 'utf8'))
  } catch (error) {
    throw configError(path, `cannot read: ${(error as Error).message}`)
  }
}

export interface DevSecrets {
  readonly values: Record<string, string>
  /** The files read, in order (for the start-up log). */
  readonly files: readonly string[]
}

/** Reads the secrets next to the config file for environment `env` (wrangler's precedence). */
export function readDevSecrets(dir: string, env?: string): DevSecrets {
  const devVars = [
    ...(env === undefined ? [] : [join(dir, `.dev.vars.${env}`)]),
    join(dir, '.dev.vars'),
  ].find((p) => existsSync(p))
  if (devVars !== undefined) return { values: readFile(devVars), files: [devVars] }
  const names = ['.env', ...(env === undefined ? [] : [`.env.${env}`]), '.env.local']
  if (env !== undefined) names.push(`.env.${env}.local`)
  const files = names.map((n) => join(dir, n)).filter((p) => existsSync(p))
  const values: Record<string, string> = {}
  for (const file of files) Object.assign(values, readFile(file))
  return { values, files }
}
