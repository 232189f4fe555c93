/**
 * Host-wide socket accounting for `wharf serve`: every brokered connection of every runtime
 * process takes one slot here, so `wharf.limits.maxOpenSockets` holds across processes. A dial
 * past the limit waits in one FIFO queue for the whole host (bounded in length and time), as a
 * per-request socket does in the runtime. Runtimes report closes; a runtime can never release
 * more than it holds, and everything it held is released when it exits.
 */
import { SlotLedger } from './slot-ledger.js'

export interface HostSocketLimits {
  readonly maxOpenSockets: number
  readonly queueTimeoutMs: number
  readonly maxQueued: number
}

export class HostSockets {
  private readonly ledger = new SlotLedger()

  constructor(private readonly limits: HostSocketLimits) {}

  get openSockets(): number {
    return this.ledger.total
  }

  get queuedSockets(): number {
    return this.ledger.queued
  }

  /** Takes a slot for `owner` (a runtime's id); rejects with the reason when it cannot. */
  acquire(owner: number): Promise<void> {
    if (this.ledger.total < this.limits.maxOpenSockets && this.ledger.queued === 0) {
      this.ledger.take(owner)
      return Promise.resolve()
    }
    if (this.ledger.queued >= this.limits.maxQueued) {
      return Promise.reject(new Error('host socket limit: the host-wide queue is full'))
    }
    return this.ledger.wait(
      owner,
      this.limits.queueTimeoutMs,
      `host socket limit: waited ${this.limits.queueTimeoutMs} ms for one of the host's ${this.limits.maxOpenSockets} sockets`
    )
  }

  /** Gives back up to `n` of `owner`'s slots. */
  release(owner: number, n = 1): void {
    if (this.ledger.give(owner, n) === 0) return
    while (this.ledger.total < this.limits.maxOpenSockets && this.ledger.grantHead());
  }

  /** The runtime is gone: its slots are free and its waiting dials fail. */
  releaseAll(owner: number): void {
    this.release(owner, this.ledger.heldBy(owner))
    this.ledger.refuse(owner, 'the runtime process exited')
  }
}
