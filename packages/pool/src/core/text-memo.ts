/**
 * What a pooler reads from a statement's text, remembered per text. Reading SQL (regular
 * expressions over the blanked text) costs more than answering a cache hit, and clients send the
 * same few texts over and over: a Worker's handful of queries, or a benchmark's hot set. Both
 * front ends keep their analyses in one of these. Bounded in entries and in the length of a text
 * remembered; past the bound it starts over, so a stream of ever-new texts costs one Map
 * insertion each, no more.
 */
export class TextMemo<V> {
  private readonly map = new Map<string, V>()

  constructor(
    /** Texts remembered at most. */
    private readonly maxEntries = 4096,
    /** Longer texts are read every time (they are rare, and would make the memo large). */
    private readonly maxText = 2048
  ) {}

  get(text: string, compute: (text: string) => V): V {
    if (text.length > this.maxText) return compute(text)
    let v = this.map.get(text)
    if (v === undefined) {
      v = compute(text)
      if (this.map.size >= this.maxEntries) this.map.clear()
      this.map.set(text, v)
    }
    return v
  }

  get size(): number {
    return this.map.size
  }

  clear(): void {
    this.map.clear()
  }
}
