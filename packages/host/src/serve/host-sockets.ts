/**
 * Host-wide socket accounting for `wharf serve`: every brokered connection of every runtime
 * process takes one slot here, so `wharf.limits.maxOpenSockets` holds across processes. A dial
 * past the limit waits in one FIFO queue for the whole host (bounded in length and time), as a
 * per-request socket does in the runtime. Runtimes report closes; a runtime can never release
 * more than it holds, and everything it held is released when it exits.
 */
export interface HostSocketLimits {
  readonly maxOpenSockets: number
  readonly queueTimeoutMs: number
  readonly maxQueued: number
}

interface Waiter {
  readonly owner: number
  readonly grant: () => void
  readonly refuse: (reason: string) => void
  readonly timer: NodeJS.Timeout
}

export class HostSockets {
  private open = 0
  private readonly held = new Map<number, number>()
  private readonly queue: Waiter[] = []

  constructor(private readonly limits: HostSocketLimits) {}

  get openSockets(): number {
    return this.open
  }

  get queuedSockets(): number {
    return this.queue.length
  }

  /** Takes a slot for `owner` (a runtime's id); rejects with the reason when it cannot. */
  acquire(owner: number): Promise<void> {
    if (this.open < this.limits.maxOpenSockets && this.queue.length === 0) {
      this.take(owner)
      return Promise.resolve()
    }
    if (this.queue.length >= this.limits.maxQueued) {
      return Promise.reject(new Error('host socket limit: the host-wide queue is full'))
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        owner,
        grant: resolve,
        refuse: (reason) => reject(new Error(reason)),
        timer: setTimeout(() => {
          this.remove(waiter)
          waiter.refuse(
            `host socket limit: waited ${this.limits.queueTimeoutMs} ms for one of the host's ${this.limits.maxOpenSockets} sockets`
          )
        }, this.limits.queueTimeoutMs),
      }
      this.queue.push(waiter)
    })
  }

  /** Gives back up to `n` of `owner`'s slots. */
  release(owner: number, n = 1): void {
    const has = this.held.get(owner) ?? 0
    const count = Math.min(Math.max(0, Math.floor(n)), has)
    if (count === 0) return
    if (has - count === 0) this.held.delete(owner)
    else this.held.set(owner, has - count)
    this.open -= count
    this.grant()
  }

  /** The runtime is gone: its slots are free and its waiting dials fail. */
  releaseAll(owner: number): void {
    this.release(owner, this.held.get(owner) ?? 0)
    for (const waiter of [...this.queue]) {
      if (waiter.owner !== owner) continue
      this.remove(waiter)
      waiter.refuse('the runtime process exited')
    }
  }

  private take(owner: number): void {
    this.open++
    this.held.set(owner, (this.held.get(owner) ?? 0) + 1)
  }

  private remove(waiter: Waiter): void {
    clearTimeout(waiter.timer)
    const i = this.queue.indexOf(waiter)
    if (i >= 0) this.queue.splice(i, 1)
  }

  private grant(): void {
    while (this.open < this.limits.maxOpenSockets) {
      const next = this.queue.shift()
      if (next === undefined) return
      clearTimeout(next.timer)
      this.take(next.owner)
      next.grant()
    }
  }
}
