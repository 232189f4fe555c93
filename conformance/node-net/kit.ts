// The node:net scenario kit, layered on the conformance kit. Shipped verbatim (as source text)
// into the workerd Worker, so it must stay self-contained; `makeKit` is passed in.
import type { Kit } from '../src/types.js'
import type { KitEnv } from '../src/kit.js'
import type { EmitterLike, NetKit } from './types.js'
import type { TraceEntry } from '../src/types.js'

export interface NetKitEnv extends Omit<KitEnv, 'connect'> {
  net: unknown
  tls: unknown
  ca: string
}

export function makeNetKit(
  env: NetKitEnv,
  out: TraceEntry[],
  makeKit: (env: KitEnv, out: TraceEntry[]) => Kit
): NetKit {
  const k = makeKit(
    {
      connect: () => {
        throw new Error('node:net scenarios do not use connect()')
      },
      servers: env.servers,
      serverView: env.serverView,
    },
    out
  )
  // Node-style errors carry a `code`; it is part of what drivers branch on.
  const describe = (v: unknown): unknown => {
    const d = k.describe(v)
    const code = (v as { code?: unknown } | null)?.code
    return v instanceof Error && code !== undefined ? { ...(d as object), code } : d
  }
  return {
    trace(event: string, value?: unknown) {
      if (arguments.length > 1) out.push({ event, value: describe(value) })
      else out.push({ event })
    },
    describe,
    sleep: (ms) => k.sleep(ms),
    addr: (name) => k.addr(name),
    port: (name) => k.port(name),
    server: (name, until, timeoutMs) => k.server(name, until, timeoutMs),
    sync: (name, fn) => k.sync(name, fn),
    outcome: (p, ms) => k.outcome(p, ms),
    net: env.net,
    tls: env.tls,
    ca: env.ca,
    on(emitter: EmitterLike, events: readonly string[], label?: string) {
      for (const event of events) {
        emitter.on(event, (...args: unknown[]) => {
          const name = label === undefined ? event : `${label}:${event}`
          if (args.length === 0) out.push({ event: name })
          else
            out.push({
              event: name,
              value: args.length === 1 ? describe(args[0]) : args.map(describe),
            })
        })
      }
    },
    until(emitter: EmitterLike, event: string, ms = 2000) {
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms)
        emitter.once(event, () => {
          clearTimeout(timer)
          resolve(true)
        })
      })
    },
  }
}
