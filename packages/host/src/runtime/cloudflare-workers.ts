/**
 * What the host serves as `cloudflare:workers` in the runtime process: `WorkerEntrypoint`, `env`,
 * `waitUntil` and stand-ins for the classes a Worker may import but the host does not run.
 *
 * @module
 */
import { currentScope } from './request-scope.js'
import { GLOBAL_SCOPE } from './worker-messages.js'

/** The ExecutionContext a handler gets (`ctx`). */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
  passThroughOnException(): void
  readonly props: Record<string, unknown>
}

/** The Worker's bindings, as passed to `fetch(request, env, ctx)`; set by the host before load. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Worker code indexes env freely
export const env: Record<string, any> = {}

/** Class-based Workers: `export default class extends WorkerEntrypoint { fetch(request) {} }`. */
export class WorkerEntrypoint<Env = unknown> {
  protected readonly ctx: ExecutionContext
  protected readonly env: Env
  constructor(ctx: ExecutionContext, env: Env) {
    this.ctx = ctx
    this.env = env
  }
}

/** Not run by the host; importing it works so shared modules load. */
export class DurableObject<Env = unknown> {
  protected readonly ctx: unknown
  protected readonly env: Env
  constructor(ctx: unknown, env: Env) {
    this.ctx = ctx
    this.env = env
  }
}

/** Not run by the host; importing it works so shared modules load. */
export class WorkflowEntrypoint<Env = unknown> extends DurableObject<Env> {}

/** Marker class for RPC targets (no RPC in the host). */
export class RpcTarget {}

/** Module-level `waitUntil`: extends the current request, like `ctx.waitUntil`. */
export function waitUntil(promise: Promise<unknown>): void {
  const scope = currentScope()
  if (scope === undefined) throw new Error(GLOBAL_SCOPE)
  scope.waitUntil(promise)
}
