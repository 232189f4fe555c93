/**
 * Every error the host raises with a code, in one place (undici's model): one base class with a
 * stable `code`, one subclass per code. Match on `err.code`, never on the message. Each code is
 * documented in docs/errors.md ("Host"); packages/pool/test/errors-doc.test.ts checks that, and
 * that no other file of the host spells an `ERR_WHARF_*` code.
 *
 * A Worker never sees these: what it sees is workerd's own messages (runtime/, docs/errors.md).
 *
 * @module
 */

/** The base of every coded error of the host (`wharf` prints it as `✘ ERROR <code>: …`). */
export class WharfError extends Error {
  /** Stable machine-readable code (`ERR_WHARF_…`). */
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A missing, unreadable or invalid wrangler config or `wharf` field; the message names it. */
export class WharfConfigError extends WharfError {
  declare readonly code: 'ERR_WHARF_CONFIG'
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WHARF_CONFIG', message, options)
  }
}

/** A bad command line; the message names the flag. */
export class WharfUsageError extends WharfError {
  declare readonly code: 'ERR_WHARF_USAGE'
  constructor(message: string) {
    super('ERR_WHARF_USAGE', message)
  }
}

/** A listener that cannot bind (address in use, not local, invalid): the command fails at once. */
export class WharfListenError extends WharfError {
  declare readonly code: 'ERR_WHARF_LISTEN'
  constructor(what: string, ip: string, port: number, error: unknown) {
    const code = (error as NodeJS.ErrnoException | null)?.code
    const hint = code === 'EADDRINUSE' ? ' (the address is in use)' : ''
    super(
      'ERR_WHARF_LISTEN',
      `${what}: cannot listen on ${ip}:${port}: ${code ?? (error as Error).message}${hint}`,
      { cause: error }
    )
  }
}

/** `wharf.isolation` is `"netns"` but this machine cannot create a network namespace. */
export class WharfIsolationError extends WharfError {
  declare readonly code: 'ERR_WHARF_ISOLATION'
  constructor(message: string) {
    super('ERR_WHARF_ISOLATION', message)
  }
}

/** `wharf.sandbox` is `"strict"` but the runtime's sandbox cannot start here. */
export class WharfSandboxError extends WharfError {
  declare readonly code: 'ERR_WHARF_SANDBOX'
  constructor(message: string) {
    super('ERR_WHARF_SANDBOX', message)
  }
}

/**
 * Inside the runtime: the supervisor's broker refused or failed a connection. `workerMessage`,
 * when set, is what the Worker sees instead of workerd's generic failure (port 25's message).
 */
export class WharfDialError extends WharfError {
  declare readonly code: 'ERR_WHARF_DIAL'
  readonly workerMessage?: string
  constructor(reason: string, workerMessage?: string) {
    super('ERR_WHARF_DIAL', reason)
    if (workerMessage !== undefined) this.workerMessage = workerMessage
  }
}

/** In the broker: policy check and TCP connect took longer than `connectTimeoutMs`. */
export class WharfDialTimeoutError extends WharfError {
  declare readonly code: 'ERR_WHARF_DIAL_TIMEOUT'
  constructor(address: string, port: number) {
    super('ERR_WHARF_DIAL_TIMEOUT', `connect to ${address}:${port} timed out`)
  }
}

/** esbuild could not bundle the Worker; the message lists its errors as `file:line:column`. */
export class WharfBuildError extends WharfError {
  declare readonly code: 'ERR_WHARF_BUILD'
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WHARF_BUILD', message, options)
  }
}

/** The Worker module failed to evaluate, or has no `fetch` handler. */
export class WharfWorkerLoadError extends WharfError {
  declare readonly code: 'ERR_WHARF_WORKER_LOAD'
  constructor(message: string) {
    super('ERR_WHARF_WORKER_LOAD', message)
  }
}

/** The Worker's global scope ran past its start-up limit, or its runtime was not ready in time. */
export class WharfStartupError extends WharfError {
  /** The code, for the runtime's `loadError` message (which carries codes as strings). */
  static readonly code = 'ERR_WHARF_STARTUP'
  declare readonly code: 'ERR_WHARF_STARTUP'
  constructor(message: string) {
    super(WharfStartupError.code, message)
  }
}

/** A runtime's `loadError` message as an error: its start-up code if it names it, else a load error. */
export function loadError(
  code: unknown,
  message: string
): WharfStartupError | WharfWorkerLoadError {
  // Only the host's own start-up code: anything else the (hostile) runtime says is a load error.
  return code === WharfStartupError.code
    ? new WharfStartupError(message)
    : new WharfWorkerLoadError(message)
}

/** The Worker's runtime process exited before it was ready. */
export class WharfRuntimeExitError extends WharfError {
  declare readonly code: 'ERR_WHARF_RUNTIME_EXIT'
  constructor(readonly exitCode: number | null) {
    super('ERR_WHARF_RUNTIME_EXIT', `the Worker process exited (code ${exitCode})`)
  }
}

/** A `hyperdrive` binding without a usable connection string. */
export class WharfHyperdriveConfigError extends WharfError {
  declare readonly code: 'ERR_WHARF_HYPERDRIVE_CONFIG'
  constructor(message: string) {
    super('ERR_WHARF_HYPERDRIVE_CONFIG', message)
  }
}

/** `wharf dev`'s embedded PostgreSQL (PGlite) for a binding without a connection string did not start. */
export class WharfEmbeddedDbError extends WharfError {
  declare readonly code: 'ERR_WHARF_EMBEDDED_DB'
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WHARF_EMBEDDED_DB', `embedded PostgreSQL: ${message}`, options)
  }
}

/** A `hyperdrive` binding's pooler did not start; the binding fails each use with the reason. */
export class WharfHyperdriveStartError extends WharfError {
  declare readonly code: 'ERR_WHARF_HYPERDRIVE_START'
  constructor(
    readonly binding: string,
    what: string,
    cause: unknown
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause)
    super('ERR_WHARF_HYPERDRIVE_START', `${what} did not start: ${detail}`, { cause })
  }
}

/** The tunnel edge of `wharf.tunnels` cannot listen. */
export class WharfTunnelError extends WharfError {
  declare readonly code: 'ERR_WHARF_TUNNEL'
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WHARF_TUNNEL', message, options)
  }
}

/** `wharf serve`: the Redis of `wharf.serve.shared_sockets` cannot be reached (or refuses AUTH) at start. */
export class WharfSharedStateError extends WharfError {
  declare readonly code: 'ERR_WHARF_SHARED_STATE'
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_WHARF_SHARED_STATE', message, options)
  }
}

/** What a Worker's code gets when it calls an RPC method on a service binding. */
/** (Worker-visible, so a TypeError as workerd's are) */
export class WharfRpcUnsupportedError extends TypeError {
  declare readonly code: 'ERR_WHARF_RPC_UNSUPPORTED'
  constructor(binding: string, method: string) {
    super(
      `env.${binding}.${method}(): RPC to another Worker is not supported by wharf; a service binding offers fetch() and connect() only`
    )
    this.name = 'TypeError'
    Object.defineProperty(this, 'code', { value: 'ERR_WHARF_RPC_UNSUPPORTED', enumerable: true })
  }
}

/** What the Worker gets when it uses one (Worker-visible, so an `Error` as workerd's are). */
export class WharfUnsupportedBindingError extends Error {
  declare readonly code: 'ERR_WHARF_UNSUPPORTED_BINDING'
  constructor(
    b: { readonly binding: string; readonly kind: string; readonly field: string },
    member: string
  ) {
    super(
      `env.${b.binding}.${member}: env.${b.binding} is ${b.kind} (${b.field} in the config), which wharf does not provide`
    )
    this.name = 'Error'
    Object.defineProperty(this, 'code', {
      value: 'ERR_WHARF_UNSUPPORTED_BINDING',
      enumerable: true,
    })
  }
}

/** A `cloudflare:node` function workerd has and wharf does not (Worker-visible: an `Error`). */
export class WharfNotImplementedError extends Error {
  declare readonly code: 'ERR_WHARF_NOT_IMPLEMENTED'
  constructor(what: string) {
    super(`${what} is not implemented by wharf`)
    this.name = 'Error'
    Object.defineProperty(this, 'code', { value: 'ERR_WHARF_NOT_IMPLEMENTED', enumerable: true })
  }
}

/** A config error naming the file: `<file>: <message>`. */
export function configError(file: string, message: string): WharfConfigError {
  return new WharfConfigError(`${file}: ${message}`)
}

/** A bad command line. */
export function usageError(message: string): WharfUsageError {
  return new WharfUsageError(message)
}

/** A listener that cannot bind. */
export function listenError(
  what: string,
  ip: string,
  port: number,
  error: unknown
): WharfListenError {
  return new WharfListenError(what, ip, port, error)
}
