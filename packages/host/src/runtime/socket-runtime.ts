/**
 * Workers' socket rules on top of `@wharf/sockets`' runtime seam: no socket outside a request,
 * at most N open per request (more wait in a bounded FIFO queue, as on Cloudflare), a host-wide
 * maximum, no I/O from another request, and every socket closed when its request ends.
 */
import type { SocketRuntime, SocketTerms } from '@wharf/sockets/runtime'
import type { Limits } from '../config.js'
import type { EgressPolicy } from '../protocol.js'
import {
  GLOBAL_SCOPE,
  QUEUE_FULL,
  REQUEST_ENDED,
  crossRequest,
  queueTimeout,
} from './worker-messages.js'
import {
  currentScope,
  requestStore,
  type RequestScope,
  type ScopedSocket,
  type SocketSlot,
} from './request-scope.js'
import { takeRoute } from './vpc-bindings.js'
import { takeHandedIn } from './inbound.js'
import { reachesConnectHandler } from '../services/routes.js'
import type { SubrequestLimit } from './subrequest-limit.js'

export type { EgressPolicy }
export type Dial = NonNullable<SocketTerms['dial']>

/** Bound on sockets waiting for a slot in the whole host. */
const MAX_QUEUED = 10_000

export class SocketLimiter implements SocketRuntime {
  private hostOpen = 0
  private readonly queue: SocketSlot[] = []
  private subrequests: SubrequestLimit | undefined

  constructor(
    private readonly limits: Limits,
    private readonly dial: Dial,
    /** Dials through a `vpc_*` binding's tunnel (see vpc-bindings.ts). */
    private readonly dialVia?: (via: string, ...args: Parameters<Dial>) => ReturnType<Dial>
  ) {}

  /** Sockets open (holding a slot) in the whole host. */
  get openSockets(): number {
    return this.hostOpen
  }

  get queuedSockets(): number {
    return this.queue.length
  }

  /** Every admission but a handed-in socket counts toward `limits.subrequests` from now on. */
  limitSubrequests(limit: SubrequestLimit): void {
    this.subrequests = limit
  }

  admit(_request: unknown, socket: object): SocketTerms {
    const via = takeRoute()
    // A connection handed to the connect() handler: already open, opened reports its addresses.
    const handed = takeHandedIn()
    const scope = currentScope()
    if (scope === undefined || scope.ended) throw new Error(GLOBAL_SCOPE)
    // connect() and fetch() (fetch-limit.ts) both come here; the handler's own socket is no call.
    if (handed === undefined) this.subrequests?.count()
    const slot: SocketSlot = { scope, socket: socket as ScopedSocket, state: 'queued' }
    scope.slots.add(slot)
    let admitted: Promise<void>
    if (this.hasRoom(scope)) {
      this.take(slot)
      admitted = Promise.resolve()
    } else if (this.queue.length >= MAX_QUEUED) {
      admitted = Promise.reject(new Error(QUEUE_FULL))
    } else {
      admitted = new Promise<void>((resolve, reject) => {
        slot.grant = resolve
        slot.reject = reject
      })
      const { queueTimeoutMs, socketsPerRequest } = this.limits
      slot.timer = setTimeout(() => {
        this.dequeue(slot, new Error(queueTimeout(queueTimeoutMs, socketsPerRequest)))
      }, queueTimeoutMs)
      this.queue.push(slot)
    }
    return {
      admitted,
      ...(handed === undefined ? {} : { info: handed.info }),
      ...(via !== undefined && reachesConnectHandler(via) ? { tlsUpgrade: false as const } : {}),
      dial: handed
        ? () => Promise.resolve(handed.socket)
        : via === undefined || this.dialVia === undefined
          ? this.dial
          : (target, signal) =>
              (this.dialVia as NonNullable<typeof this.dialVia>)(via, target, signal),
      connectTimeoutMs: this.limits.connectTimeoutMs,
      assertIo(kind) {
        const current = currentScope()
        if (current !== undefined && current !== scope) throw new Error(crossRequest(kind))
      },
      onFinished: () => this.release(slot),
    }
  }

  /** Ends a request: fails its queued sockets and closes its open ones (as workerd does). */
  endScope(scope: RequestScope): Promise<void> {
    scope.ended = true
    const closing: Promise<void>[] = []
    for (const slot of [...scope.slots]) {
      if (slot.state === 'queued') this.dequeue(slot, new Error(REQUEST_ENDED))
      else if (slot.state === 'open') {
        closing.push(requestStore.run(scope, () => slot.socket.close()).catch(() => undefined))
      }
    }
    return Promise.all(closing).then(() => undefined)
  }

  private hasRoom(scope: RequestScope): boolean {
    return scope.open < this.limits.socketsPerRequest && this.hostOpen < this.limits.maxOpenSockets
  }

  private take(slot: SocketSlot): void {
    slot.state = 'open'
    slot.scope.open++
    this.hostOpen++
  }

  private dequeue(slot: SocketSlot, error: Error): void {
    if (slot.state !== 'queued') return
    const i = this.queue.indexOf(slot)
    if (i >= 0) this.queue.splice(i, 1)
    if (slot.timer) clearTimeout(slot.timer)
    slot.state = 'done'
    slot.scope.slots.delete(slot)
    slot.reject?.(error)
  }

  private release(slot: SocketSlot): void {
    if (slot.state === 'queued') {
      this.dequeue(slot, new Error(REQUEST_ENDED))
      return
    }
    if (slot.state !== 'open') return
    slot.state = 'done'
    slot.scope.open--
    slot.scope.slots.delete(slot)
    this.hostOpen--
    this.grantWaiting()
  }

  /** Gives freed slots to waiting sockets in FIFO order, skipping requests still at their limit. */
  private grantWaiting(): void {
    for (let i = 0; i < this.queue.length && this.hostOpen < this.limits.maxOpenSockets;) {
      const slot = this.queue[i]
      if (slot === undefined) break
      if (slot.scope.open < this.limits.socketsPerRequest) {
        this.queue.splice(i, 1)
        if (slot.timer) clearTimeout(slot.timer)
        this.take(slot)
        slot.grant?.()
      } else i++
    }
  }
}
