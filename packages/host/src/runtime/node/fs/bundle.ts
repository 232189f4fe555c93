/**
 * What /bundle holds: one file per module of the Worker, named as workerd names it. A bundled
 * Worker is one module, named (as wrangler names it) after the entry file with a `.js`
 * extension; a `no_bundle` Worker's modules keep their paths under the version directory.
 */
import { readdirSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'

const MAX_MODULES = 1000

export function bundleFiles(
  main: string,
  source: string | undefined,
  unbundled: boolean
): Record<string, string> {
  if (!unbundled) return { [basename(source ?? main).replace(/\.[cm]?[jt]sx?$/, '') + '.js']: main }
  const root = dirname(main)
  const files: Record<string, string> = {}
  let count = 0
  const walk = (dir: string, depth: number): void => {
    if (depth > 16) return
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (++count > MAX_MODULES) return
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path, depth + 1)
      else if (entry.isFile() && /\.[cm]?js$/.test(entry.name)) files[relative(root, path)] = path
    }
  }
  walk(root, 0)
  return files
}
