/**
 * The request an async context belongs to. Everything that enforces Workers' request rules
 * (socket admission, cross-request I/O, `waitUntil` from `cloudflare:workers`) asks this store.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

/** A socket as the scope sees it: enough to close it when the request ends. */
export interface ScopedSocket {
  close(): Promise<void>
}

export interface SocketSlot {
  readonly scope: RequestScope
  readonly socket: ScopedSocket
  state: 'queued' | 'open' | 'done'
  grant?: () => void
  reject?: (error: Error) => void
  timer?: NodeJS.Timeout
}

export class RequestScope {
  /** Sockets created in this request that are not finished yet. */
  readonly slots = new Set<SocketSlot>()
  /** How many of them hold one of the request's open-socket slots. */
  open = 0
  /** Set once the response is done and every `waitUntil` settled: no more I/O. */
  ended = false
  /**
   * A dispatch's outbound parameters (JSON) this request came with: its `fetch()` calls carry
   * them to the Outbound Worker (services.ts).
   */
  outboundParams: string | undefined
  private pending = 0
  private idle: (() => void) | undefined

  constructor(readonly id: number) {}

  /** `ctx.waitUntil(promise)`: extends the request until `promise` settles (like allSettled). */
  waitUntil(promise: unknown): void {
    if (this.ended) return
    this.pending++
    Promise.resolve(promise)
      .catch((error: unknown) => {
        console.error('[wharf:error] a waitUntil promise rejected:', error)
      })
      .finally(() => {
        if (--this.pending === 0) this.idle?.()
      })
      .catch(() => undefined)
  }

  /** Resolves when no `waitUntil` promise is pending (or `timeoutMs` passed: returns false). */
  async settled(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true
    let timer: NodeJS.Timeout | undefined
    const done = await new Promise<boolean>((resolve) => {
      this.idle = () => resolve(true)
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    clearTimeout(timer)
    this.idle = undefined
    return done
  }
}

export const requestStore = new AsyncLocalStorage<RequestScope>()

export function currentScope(): RequestScope | undefined {
  return requestStore.getStore()
}
