// Shared shapes of the conformance suite: scenarios, the loopback servers they need, and traces.

/** How a loopback server behaves for each connection. Every server listens on port 0. */
export type ServerSpec =
  /** Writes back everything; half-closes when the client does. */
  | { kind: 'echo'; host?: '127.0.0.1' | '::1' }
  /** Line commands: `SEND <text>`, `BULK <n>`, `FIN`, `RST`, `CLOSE` (FIN then destroy). */
  | { kind: 'cmd' }
  /** Writes `text` on connect, then ends (FIN), destroys (FIN + close), resets, or stays open. */
  | {
      kind: 'greet'
      text: string
      then: 'end' | 'destroy' | 'rst' | 'open'
      /** Delay before the greeting (and the `then`), in ms. */
      delayMs?: number
    }
  /** Accepts and never writes; reads and records everything. */
  | { kind: 'silent' }
  /** A port with nothing listening. */
  | { kind: 'refuse' }
  /** Writes `bytes` bytes (a repeating a-z pattern) then ends or stays open. */
  | { kind: 'bulk'; bytes: number; then: 'end' | 'open' }
  /** Reads everything (optionally not reading for `pauseMs` first); on client FIN replies with
   * the byte count as text and ends. */
  | { kind: 'sink'; pauseMs?: number }
  /** Writes each chunk `intervalMs` apart, then ends. */
  | { kind: 'slow'; chunks: string[]; intervalMs: number }
  /** Reads `bytes` bytes, then ends (FIN) or resets. */
  | { kind: 'close-after'; bytes: number; how: 'end' | 'rst' }
  /** Plaintext `220 ready\r\n`, waits for `STARTTLS\r\n`, answers `220 go\r\n`, then TLS echo. With
   * `immediate`, upgrades to TLS right on connect without a greeting. With `hangUpOnHello`, ends
   * (FIN) or resets the connection when the client's first TLS bytes arrive, mid-handshake. */
  | {
      kind: 'starttls'
      cert: CertName
      immediate?: boolean
      host?: '127.0.0.1' | '::1'
      hangUpOnHello?: 'end' | 'rst'
    }
  /** TLS from the first byte, then echo (or greet-then-end). */
  | { kind: 'tls'; cert: CertName; greet?: string; host?: '127.0.0.1' | '::1' }

export type CertName = 'localhost' | 'wrongHost' | 'untrusted'

/** What a scenario sees of a server through `k.server(name)`. */
export interface ServerView {
  /** `connect`, `data:<n>` (consecutive data events merged), `end`, `close`, `error:<code>`. */
  events: string[]
  /** Bytes received over all connections. */
  bytes: number
  /** The first 200 received bytes as latin1 text. */
  head: string
  connections: number
}

/** The kit every scenario is written against. Implemented identically in Node and workerd. */
export interface Kit {
  /** The runtime's `connect` (workerd's `cloudflare:sockets`, or `@wharf/sockets`). */
  connect: (...args: unknown[]) => SocketLike
  /** Records one trace event; `value` is described (errors, bytes, objects) before recording. */
  trace(event: string, value?: unknown): void
  /** `127.0.0.1:<port>` (or `[::1]:<port>`) of a declared server. */
  addr(name?: string): string
  port(name?: string): number
  sleep(ms: number): Promise<void>
  /** `'pending'`, `{ ok: value }` or `{ err: error }` after at most `ms` (default 1000: a loaded
   * CI machine can take hundreds of ms to connect). Pass a small `ms` to assert "still pending". */
  outcome(p: Promise<unknown>, ms?: number): Promise<unknown>
  /** Traces `name` with `{ ok }`/`{ err }` when `p` settles, in settlement order. */
  watch(name: string, p: Promise<unknown>): void
  /** Runs `fn`, tracing `{ ok: result }` or `{ throws: error }`; returns the result or undefined. */
  sync<T>(name: string, fn: () => T): T | undefined
  /** Reads until done (or `limit` bytes), returning `{ bytes, text }` without chunk boundaries. */
  readAll(reader: ReaderLike, limit?: number): Promise<{ bytes: number; text: string }>
  /** Reads until at least `n` bytes arrived; returns their text. */
  readN(reader: ReaderLike, n: number): Promise<string>
  text(bytes: Uint8Array): string
  bytes(text: string): Uint8Array
  /** What a declared server has seen so far; with `until`, once it appears (at most `timeoutMs`,
   * default 5 s: the wait ends as soon as the server has seen it). */
  server(name?: string, until?: string, timeoutMs?: number): Promise<ServerView>
  /** Describes a value the way `trace` does. */
  describe(value: unknown): unknown
}

/** One read's result (default reader: a chunk; BYOB reader: a view over the caller's buffer). */
export interface ReadResultLike {
  done: boolean
  value?: Uint8Array
}

/** A default or BYOB reader of the socket's readable, as loosely typed as scenarios use it. */
export interface ReaderLike {
  read(view?: ArrayBufferView): Promise<ReadResultLike>
  /** workerd's non-standard BYOB `readAtLeast(minBytes, view)`. */
  readAtLeast(minBytes: number, view: ArrayBufferView): Promise<ReadResultLike>
  releaseLock(): void
  cancel(reason?: unknown): Promise<void>
  readonly closed: Promise<void>
}

export interface WriterLike {
  write(chunk?: unknown): Promise<void>
  close(): Promise<void>
  abort(reason?: unknown): Promise<void>
  releaseLock(): void
  readonly closed: Promise<void>
  readonly ready: Promise<void>
  readonly desiredSize: number | null
}

export interface ReadableLike extends AsyncIterable<Uint8Array> {
  getReader(options?: { mode?: 'byob' }): ReaderLike
  readonly locked: boolean
  cancel(reason?: unknown): Promise<void>
  values(options?: { preventCancel?: boolean }): AsyncIterator<Uint8Array>
  pipeTo(destination: unknown, options?: unknown): Promise<void>
  pipeThrough<T>(
    transform: { writable: unknown; readable: ReadableStream<T> },
    options?: unknown
  ): ReadableStream<T>
}

export interface WritableLike {
  getWriter(): WriterLike
  readonly locked: boolean
  close(): Promise<void>
  abort(reason?: unknown): Promise<void>
}

/** The Sockets API's `Socket`, typed loosely enough for scenarios to misuse it on purpose. */
export interface SocketLike {
  readonly readable: ReadableLike
  readonly writable: WritableLike
  readonly opened: Promise<{ remoteAddress?: string; localAddress?: string }>
  readonly closed: Promise<void>
  readonly upgraded: boolean
  readonly secureTransport: string
  close(): Promise<void>
  startTls(options?: unknown): SocketLike
}

export interface Scenario {
  /** Stable id, kebab-case, unique. */
  id: string
  /** One line: what is being compared. */
  title: string
  /** Loopback servers by name (the first, or `main`, is the default for `k.addr()`). */
  servers?: Record<string, ServerSpec>
  /** Adds the Node-only `ca` option (the test CA) to `connect()` in the Node runner only. */
  tls?: boolean
  /** Merge consecutive `read` (or node:net `data`) events: chunk boundaries are no contract. */
  mergeReads?: boolean
  /** Per-runtime limit for the whole scenario (default 10 s; only a hang ever reaches it). */
  timeoutMs?: number
  /** Written only against the Sockets API and the kit; shipped to workerd as source text, so it
   * must not close over anything outside its own body. */
  run: (k: Kit, params: Params) => Promise<void>
  /** JSON data passed to `run` as its second argument (lets one `run` serve a table of cases). */
  params?: Params
}

/** JSON data for a scenario's `run` (values it reads are narrowed by the scenario itself). */
export type Params = Record<string, unknown>

export interface TraceEntry {
  event: string
  value?: unknown
}

export interface RunResult {
  trace: TraceEntry[]
  /** Set when the run itself failed (timeout, harness error), not the socket behaviour. */
  failure?: string
  ms: number
}
