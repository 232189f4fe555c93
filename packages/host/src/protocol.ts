/** Messages between the supervisor (`wharf dev`) and a Worker's runtime process. */
import type { SocketTerms } from '@wharf/sockets/runtime'
import type { Limits, EgressConfig } from './config.js'
import type { AssetsOptions } from './assets/index.js'
import type { UnsupportedBinding } from './unsupported-bindings.js'
import type { VersionMetadata } from './version-metadata.js'
import type { RateLimitBinding } from './rate-limits.js'

/** What the egress policy of `@wharf/sockets` decides with (the broker and the runtime share it). */
export type EgressPolicy = NonNullable<SocketTerms['policy']>

/** From the runtime: open `hostname:port` (the hostname as the Worker wrote it). */
export interface DialRequest {
  readonly t: 'dial'
  /** A `vpc_networks`/`vpc_services` binding to open the connection through (a tunnel). */
  readonly via?: string
  readonly id: number
  readonly hostname: string
  readonly port: number
  /** `wharf serve`: brokered sockets closed since the last report (as `{ t: 'closed' }` says). */
  readonly closed?: number
}

/**
 * To the runtime: the outcome; on success the connected socket travels as the message handle (or
 * the descriptor that comes with it on the fd channel).
 */
export interface DialReply {
  readonly t: 'dialed'
  readonly id: number
  readonly ok: boolean
  /** Operator-facing reason, never shown to the Worker. */
  readonly reason?: string
  /** What the Worker sees instead of workerd's generic failure (port 25's message). */
  readonly workerMessage?: string
}

/** An address:port the Worker may reach whatever the policy says (the host's own services). */
export interface ScopedException {
  readonly host: string
  readonly port: number
  /** Names the exception in logs, e.g. `hyperdrive:HYPERDRIVE`. */
  readonly label: string
}

export interface HyperdriveInfo {
  readonly connectionString: string
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

export interface RuntimeData {
  /** The built entry module (in its version directory: all the runtime loads of the Worker). */
  readonly main: string
  /** The directory of the Worker's config: what the sandbox lets the runtime read. */
  readonly projectDir?: string
  /** Decide, as in workerd, what `process.env` holds. */
  readonly compatibilityDate?: string
  readonly compatibilityFlags?: readonly string[]
  /** The user's `main`, for messages. */
  readonly source?: string
  /** `no_bundle`: imports are as written, so the runtime resolves `cloudflare:*` itself. */
  readonly unbundled?: boolean
  /** `no_bundle`: modules Node loads in a format their extension does not say, by path. */
  readonly moduleFormats?: Readonly<Record<string, 'module' | 'commonjs'>>
  /** The service-worker syntax: bindings are globals, requests go to `fetch` listeners. */
  readonly serviceWorker?: boolean
  /** `http://HOST:PORT` of the dev server, for `request.url`. */
  readonly origin: string
  /** Bindings from config vars, secrets (.dev.vars / .env) and --var, merged in that order. */
  readonly vars: Record<string, unknown>
  /** Which of `vars` are secrets (from .dev.vars / .env or --var), by name. */
  readonly secrets?: readonly string[]
  /** Static assets (the runtime reads `directory`, read-only). */
  readonly assets?: AssetsOptions
  readonly limits: Limits
  readonly egress: EgressConfig
  readonly exceptions: readonly ScopedException[]
  /** The host's own listening addresses: denied to the Worker (no loops back into the host). */
  readonly hostAddresses: readonly { readonly address: string; readonly port: number }[]
  readonly hyperdrive: readonly { binding: string; info?: HyperdriveInfo; error?: string }[]
  /** Private-network bindings; the supervisor's broker opens their flows through the tunnel. */
  readonly vpc?: readonly VpcBindingInfo[]
  /**
   * The runtime has no network (its own namespace): connections come from the supervisor's
   * broker. Otherwise the runtime applies the same policy in-process (faster, not isolated).
   */
  readonly brokered?: boolean
  /**
   * The descriptor of the runtime's end of the fd channel (fd-channel.ts), when the supervisor
   * made one: dial requests and every message that carries a socket then travel on it.
   */
  readonly fdChannel?: number
  /** A Worker other than the primary (`-c`): its name, on its log lines. */
  readonly name?: string
  /** `services` bindings: `env.BINDING` reaches another Worker of the host (services/). */
  readonly services?: readonly string[]
  /**
   * `dispatch_namespaces` bindings: each namespace's user Workers by name (the routes use their
   * places) and the `get()` outbound values the namespace's Outbound Worker gets (services/dispatch.ts).
   */
  readonly dispatch?: readonly {
    readonly binding: string
    readonly scripts: readonly string[]
    readonly parameters: readonly string[]
  }[]
  /** `wharf.outbound`: every fetch() goes to the Outbound Worker, connect() to its handler. */
  readonly outbound?: boolean
  /** Bindings of products wharf does not provide: each `env.NAME` throws when used. */
  readonly unsupported?: readonly UnsupportedBinding[]
  /** `ratelimits`: env[binding].limit({ key }). */
  readonly rateLimits?: readonly RateLimitBinding[]
  /** `version_metadata`: env[binding] is `{ id, tag, timestamp }`. */
  readonly versionMetadata?: VersionMetadata
  /** `limits.subrequests` as the config sets it (`wharf dev`; serve's is in `serve`). */
  readonly subrequests?: number
  /** Set by `wharf serve` only: the production limits and reporting (see runtime/serve-runtime.ts). */
  readonly serve?: ServeRuntimeOptions
}

/** What a `wharf serve` runtime enforces and reports, beyond `wharf dev`. */
export interface ServeRuntimeOptions {
  /** Longest the Worker may hold the event loop (a request's CPU); Error 1102 past it. */
  readonly cpuMs: number
  /** Memory the Worker may add to the runtime's resident set before it is recycled (Error 1102). */
  readonly memoryMb: number
  /** CPU the Worker's global scope may take at start-up (Cloudflare: 1 s, error 10021). */
  readonly startupMs: number
  /** fetch() + connect() calls per request (Cloudflare's subrequest limit). */
  readonly subrequests: number
  readonly logFormat: 'text' | 'json'
  /** Names this runtime in request ids and logs. */
  readonly tag: string
}

/** A `wharf serve` runtime's periodic report (every ~100 ms): liveness, load and request figures. */
export interface RuntimeTick {
  readonly t: 'tick'
  /** HTTP connections open in the runtime. */
  readonly conns: number
  /** Connections it has received in all (the supervisor counts the ones still on their way). */
  readonly accepted: number
  readonly inflight: number
  readonly socketsQueued: number
  readonly socketsOpen: number
  /** Since the previous tick: responses by status, and the latency histogram's bucket counts. */
  readonly statuses: Record<string, number>
  readonly buckets: readonly number[]
  readonly latencySum: number
  /** Egress denials since the previous tick (unbrokered runtimes decide in-process). */
  readonly denials: readonly { rule: string; host: string; port: number }[]
  readonly subrequestDenials: number
  /** connect() handler connections that ended since the previous tick. */
  readonly connects?: number
}

/**
 * To the runtime: a connection for its `connect()` handler (a service binding's `connect()`, or
 * an inbound TCP listener's), the socket as the handle. It answers with `InboundReply`.
 */
export interface InboundConnection {
  readonly t: 'inbound'
  readonly id: number
  /** A named export (`WorkerEntrypoint`); the default export when absent. */
  readonly entrypoint?: string
  /** What the handler's `socket.opened` resolves to. */
  readonly localAddress?: string
  readonly remoteAddress?: string
}

/** From the runtime: whether it took an `InboundConnection` (false: no such connect handler). */
export interface InboundReply {
  readonly t: 'inbound'
  readonly id: number
  readonly ok: boolean
}

/**
 * To the runtime: its data once, then accepted connections (with the socket as the handle), and
 * the answers to its dial requests (with the connected socket as the handle). A `conn` from a
 * service binding's `fetch()` names the entrypoint and carries the caller's URL per request.
 */
export type ToRuntime =
  | { t: 'init'; data: RuntimeData }
  | { t: 'conn'; service?: { entrypoint?: string } }
  | { t: 'drain' }
  | DialReply
  | InboundConnection

/** Milliseconds since the runtime process started (WHARF_TIMING=1 logs them). */
export interface RuntimeTiming {
  /** The init message arrived and the runtime's own modules had loaded. */
  readonly init: number
  /** The Worker module had loaded. */
  readonly loaded: number
}

export type FromRuntime =
  /** `channel`: the runtime listens on its fd channel; the supervisor may send on it now. */
  | { t: 'ready'; startupCpuMs?: number; timing?: RuntimeTiming; channel?: boolean }
  | { t: 'loadError'; message: string; code?: string }
  | DialRequest
  | RuntimeTick
  /** `wharf serve`: this many brokered sockets have closed (the host-wide socket count). */
  | { t: 'closed'; n: number }
  | InboundReply

/** What the runtime knows of a `vpc_networks` or `vpc_services` binding. */
export interface VpcBindingInfo {
  readonly binding: string
  readonly kind: 'network' | 'service'
  /** For an `http` service: where `fetch()` goes, whatever host its URL names. */
  readonly service?: {
    readonly type: 'http' | 'tcp'
    readonly host: string
    readonly port: number
    readonly https: boolean
    readonly certVerification: 'verify_full' | 'verify_ca' | 'disabled'
  }
}
