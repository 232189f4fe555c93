// The scenario kit. `makeKit` is shipped verbatim (as source text) into the workerd Worker and also
// called directly in Node, so both runtimes describe values and order events the same way. It must
// stay self-contained: no imports, no references to anything outside its body.
import type { Kit, ServerView, TraceEntry } from './types.js'

export interface KitEnv {
  connect: Kit['connect']
  /** Server name → `host:port` authority (IPv6 bracketed). */
  servers: Record<string, { authority: string; port: number }>
  serverView(name: string, until: string | undefined, timeoutMs: number): Promise<ServerView>
}

export function makeKit(env: KitEnv, out: TraceEntry[]): Kit {
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  const names = Object.keys(env.servers)
  const pick = (name?: string): { authority: string; port: number } => {
    const key = name ?? (names.includes('main') ? 'main' : names[0])
    const server = key === undefined ? undefined : env.servers[key]
    if (!server) throw new Error(`scenario uses undeclared server ${String(name)}`)
    return server
  }
  const describe = (v: unknown, depth = 0): unknown => {
    if (v === undefined) return '<undefined>'
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v
    if (typeof v === 'number') return Number.isNaN(v) ? '<NaN>' : v
    if (typeof v === 'bigint') return `${v}n`
    if (typeof v === 'symbol') return `<symbol ${String(v.description)}>`
    if (typeof v === 'function') return `<function ${v.name}>`
    if (depth > 4) return '<deep>'
    if (v instanceof Error) {
      return { error: v.name, message: v.message }
    }
    if (v instanceof Uint8Array) {
      const text = decoder.decode(v.subarray(0, 64))
      return { bytes: v.length, text: v.length > 64 ? `${text}…` : text }
    }
    if (ArrayBuffer.isView(v)) return { view: v.constructor.name, byteLength: v.byteLength }
    if (v instanceof ArrayBuffer) return { arrayBuffer: v.byteLength }
    if (Array.isArray(v)) return v.map((x) => describe(x, depth + 1))
    const out: Record<string, unknown> = {}
    // Keys sorted: property order of plain result objects ({ done, value }) is not API contract;
    // scenarios that care trace Object.keys() themselves.
    for (const key of Object.keys(v).sort())
      out[key] = describe((v as Record<string, unknown>)[key], depth + 1)
    return out
  }
  const settle = async (p: Promise<unknown>, ms: number): Promise<unknown> => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const pending = new Promise((resolve) => {
      timer = setTimeout(() => resolve('pending'), ms)
    })
    try {
      return await Promise.race([
        p.then(
          (v) => ({ ok: describe(v) }),
          (e: unknown) => ({ err: describe(e) })
        ),
        pending,
      ])
    } finally {
      clearTimeout(timer)
    }
  }
  return {
    connect: env.connect,
    trace(event, value) {
      if (arguments.length > 1) out.push({ event, value: describe(value) })
      else out.push({ event })
    },
    addr: (name) => pick(name).authority,
    port: (name) => pick(name).port,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    outcome: (p, ms = 1000) => settle(p, ms),
    watch(name, p) {
      p.then(
        (v) => out.push({ event: name, value: { ok: describe(v) } }),
        (e: unknown) => out.push({ event: name, value: { err: describe(e) } })
      )
    },
    sync(name, fn) {
      try {
        const result = fn()
        out.push({ event: name, value: { ok: describe(result) } })
        return result
      } catch (e) {
        out.push({ event: name, value: { throws: describe(e) } })
        return undefined
      }
    },
    async readAll(reader, limit = 64 * 1024 * 1024) {
      let bytes = 0
      let text = ''
      for (let i = 0; i < 1_000_000 && bytes < limit; i++) {
        const { done, value } = await reader.read()
        if (done || !value) break
        bytes += value.length
        if (text.length < 200) text += decoder.decode(value.subarray(0, 200))
      }
      return { bytes, text: text.slice(0, 200) }
    },
    async readN(reader, n) {
      const parts: Uint8Array[] = []
      let got = 0
      for (let i = 0; i < 100_000 && got < n; i++) {
        const { done, value } = await reader.read()
        if (done || !value) break
        parts.push(value)
        got += value.length
      }
      const all = new Uint8Array(got)
      let at = 0
      for (const p of parts) {
        all.set(p, at)
        at += p.length
      }
      return decoder.decode(all)
    },
    text: (bytes) => decoder.decode(bytes),
    bytes: (text) => encoder.encode(text),
    // A wait for a condition ends as soon as the server has seen `until`; the bound only matters
    // when it never does, so it is generous: a loaded machine may take seconds to deliver a FIN.
    server: (name, until, timeoutMs = 5000) => {
      const key = name ?? (names.includes('main') ? 'main' : names[0]) ?? ''
      return env.serverView(key, until, timeoutMs)
    },
    describe: (v) => describe(v),
  }
}
