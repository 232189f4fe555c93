// Reads conformance/DIFFERENCES.md: every `## <scenario-id>` heading is a documented difference.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Difference {
  id: string
  text: string
}

export function loadDifferences(
  file = join(import.meta.dirname, '..', 'DIFFERENCES.md')
): Map<string, Difference> {
  const out = new Map<string, Difference>()
  let current: Difference | undefined
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^## +`?([a-z0-9-]+)`?\s*$/.exec(line)
    if (m?.[1]) {
      current = { id: m[1], text: '' }
      out.set(current.id, current)
    } else if (/^#{1,2} /.test(line)) current = undefined
    else if (current) current.text += `${line}\n`
  }
  for (const d of out.values()) d.text = d.text.trim()
  return out
}
