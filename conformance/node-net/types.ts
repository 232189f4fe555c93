// Shapes of the node:net / node:tls differential scenarios: the same code runs as a
// `nodejs_compat` Worker in workerd (its own node:net) and in Node on @wharf/sockets/node/*.
import type { Kit, Params, ServerSpec } from '../src/types.js'

/** An event emitter as loosely typed as scenarios use it. */
export interface EmitterLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown
  once(event: string, listener: (...args: unknown[]) => void): unknown
}

/** The kit of a node:net scenario: the conformance kit's helpers plus the two modules. */
export interface NetKit extends Pick<
  Kit,
  'trace' | 'describe' | 'sleep' | 'addr' | 'port' | 'server' | 'sync' | 'outcome'
> {
  /** `node:net` of the runtime (workerd's, or @wharf/sockets/node/net). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  net: any
  /** `node:tls` of the runtime (workerd's, or @wharf/sockets/node/tls). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  tls: any
  /** The test CA (PEM): workerd ignores a `ca` option and trusts it through its config. */
  ca: string
  /** Traces every emission of `events` on `emitter` as `<label>:<event>` with its arguments. */
  on(emitter: EmitterLike, events: readonly string[], label?: string): void
  /** Resolves `true` when `emitter` emits `event`, or `false` after `ms` (default 2000). */
  until(emitter: EmitterLike, event: string, ms?: number): Promise<boolean>
}

export interface NetScenario {
  /** Stable id, kebab-case, unique; prefixed `net-` or `tls-`. */
  id: string
  title: string
  servers?: Record<string, ServerSpec>
  /** Per-runtime limit (default 10 s; only a hang reaches it). */
  timeoutMs?: number
  /** Shipped to workerd as source text: must not close over anything outside its body. */
  run: (h: NetKit, params: Params) => Promise<void>
  params?: Params
}
