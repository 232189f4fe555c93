// Reads conformance/DIFFERENCES.md: every `## <scenario-id>` heading is a documented difference.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** `deliberate`: wharf differs on purpose; `gap`: a known mismatch still to be fixed. */
export type DifferenceKind = 'deliberate' | 'gap'

export interface Difference {
  id: string
  kind: DifferenceKind
  text: string
  /**
   * The differing trace lines expected on this Node, `- workerd: …` and `+ wharf:   …`: the
   * ```diff block, or a ```diff node<major> block of this Node's major version where one is given
   * (an empty one: no difference on that Node, so the entry does not apply there).
   */
  lines: string[]
}

export function loadDifferences(
  file = join(import.meta.dirname, '..', 'DIFFERENCES.md'),
  nodeMajor = Number(process.versions.node.split('.')[0])
): Map<string, Difference> {
  const out = new Map<string, Difference>()
  let current: Difference | undefined
  let inDiff = false
  /** The lines of the ```diff block being read: the entry's own, or another Node's (dropped). */
  let block: string[] = []
  const forThisNode = new Map<string, string[]>()
  // `# Deliberate differences` and `# Known gaps` sections say which kind their entries are.
  let kind: DifferenceKind | undefined
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const open = current ? /^```diff(?:\s+node(\d+))?\s*$/.exec(line) : null
    if (current && open) {
      inDiff = true
      if (open[1] === undefined) block = current.lines
      else {
        block = []
        if (Number(open[1]) === nodeMajor) forThisNode.set(current.id, block)
      }
      continue
    }
    if (inDiff) {
      if (/^```\s*$/.test(line)) inDiff = false
      else if (line.trim() !== '') block.push(line.replace(/\s+$/, ''))
      continue
    }
    const m = /^## +`?([a-z0-9-]+)`?\s*$/.exec(line)
    if (m?.[1]) {
      if (kind === undefined) throw new Error(`DIFFERENCES.md: ${m[1]} is outside a section`)
      if (out.has(m[1])) throw new Error(`DIFFERENCES.md: ${m[1]} is listed twice`)
      current = { id: m[1], kind, text: '', lines: [] }
      out.set(current.id, current)
    } else if (/^# /.test(line)) {
      current = undefined
      kind = /^# Deliberate/i.test(line)
        ? 'deliberate'
        : /^# Known gaps/i.test(line)
          ? 'gap'
          : undefined
    } else if (/^#{1,2} /.test(line)) current = undefined
    else if (current) current.text += `${line}\n`
  }
  for (const d of out.values()) {
    d.text = d.text.trim()
    const own = forThisNode.get(d.id)
    if (d.text === '') throw new Error(`DIFFERENCES.md: ${d.id} gives no reason`)
    if (d.lines.length === 0) {
      throw new Error(
        `DIFFERENCES.md: ${d.id} records no expected trace lines (a \`\`\`diff block)`
      )
    }
    if (own === undefined) continue
    // An empty block of this Node's: the scenario matches workerd here.
    if (own.length === 0) out.delete(d.id)
    else d.lines = own
  }
  return out
}
