/**
 * How a cached result is stored in the shared store. Input from the store is untrusted (another
 * process, a different version, a corrupted key): `decode` bounds every length and returns
 * undefined rather than throw.
 */
import type { CachedResult, StoredResult } from './cache.js'

// storedAt (float64) | description length (int32, -1: none) | description |
// relation count (int32, -1: unknown) | (length int32 | utf8)... | rows
export function encode(result: CachedResult, storedAt: number): Buffer {
  const parts: Buffer[] = []
  const head = Buffer.alloc(12)
  head.writeDoubleBE(storedAt, 0)
  head.writeInt32BE(result.description ? result.description.length : -1, 8)
  parts.push(head)
  if (result.description) parts.push(result.description)
  const rels = result.relations
  const n = Buffer.alloc(4)
  n.writeInt32BE(rels === null ? -1 : rels.length)
  parts.push(n)
  for (const r of rels ?? []) {
    const b = Buffer.from(r)
    const l = Buffer.alloc(4)
    l.writeInt32BE(b.length)
    parts.push(l, b)
  }
  parts.push(result.rows)
  return Buffer.concat(parts)
}

export function decode(b: Buffer): StoredResult | undefined {
  try {
    let at = 0
    const storedAt = b.readDoubleBE(at)
    const descLen = b.readInt32BE(at + 8)
    at += 12
    let description: Buffer | undefined
    if (descLen >= 0) {
      if (at + descLen > b.length) return undefined
      description = Buffer.from(b.subarray(at, at + descLen))
      at += descLen
    }
    const n = b.readInt32BE(at)
    at += 4
    let relations: string[] | null = null
    if (n >= 0) {
      if (n > 10_000) return undefined
      relations = []
      for (let i = 0; i < n; i++) {
        const l = b.readInt32BE(at)
        at += 4
        if (l < 0 || at + l > b.length) return undefined
        relations.push(b.toString('utf8', at, at + l))
        at += l
      }
    }
    const rows = Buffer.from(b.subarray(at))
    if (!Number.isFinite(storedAt) || rows.length === 0) return undefined
    return { result: { description, rows, relations }, storedAt }
  } catch {
    return undefined
  }
}
