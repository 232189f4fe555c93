/**
 * What the host's socket limits have in common (host-sockets.ts, shared-sockets.ts): the slots
 * each runtime holds, which it can never give back more of than it has, and a FIFO queue of
 * dials waiting for one, each bounded in time.
 */
export interface SlotWaiter {
  readonly owner: number
  readonly grant: () => void
  readonly refuse: (reason: string) => void
  readonly timer: NodeJS.Timeout
}

export class SlotLedger {
  private readonly held = new Map<number, number>()
  private readonly waiting: SlotWaiter[] = []
  /** Slots held by every owner together. */
  total = 0

  get queued(): number {
    return this.waiting.length
  }

  get head(): SlotWaiter | undefined {
    return this.waiting[0]
  }

  take(owner: number): void {
    this.total++
    this.held.set(owner, (this.held.get(owner) ?? 0) + 1)
  }

  /** Gives back up to `n` of `owner`'s slots; returns how many it gave back. */
  give(owner: number, n: number): number {
    const has = this.held.get(owner) ?? 0
    const count = Math.min(Math.max(0, Math.floor(n)), has)
    if (count === 0) return 0
    if (has - count === 0) this.held.delete(owner)
    else this.held.set(owner, has - count)
    this.total -= count
    return count
  }

  heldBy(owner: number): number {
    return this.held.get(owner) ?? 0
  }

  /** Queues a waiter for `owner`; it is refused with `timeoutReason` after `timeoutMs`. */
  wait(owner: number, timeoutMs: number, timeoutReason: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: SlotWaiter = {
        owner,
        grant: resolve,
        refuse: (reason) => reject(new Error(reason)),
        timer: setTimeout(() => {
          this.remove(waiter)
          waiter.refuse(timeoutReason)
        }, timeoutMs),
      }
      this.waiting.push(waiter)
    })
  }

  /** Takes a slot for the head waiter and resolves it; false when none waits. */
  grantHead(): boolean {
    const next = this.waiting.shift()
    if (next === undefined) return false
    clearTimeout(next.timer)
    this.take(next.owner)
    next.grant()
    return true
  }

  remove(waiter: SlotWaiter): void {
    clearTimeout(waiter.timer)
    const i = this.waiting.indexOf(waiter)
    if (i >= 0) this.waiting.splice(i, 1)
  }

  /** Refuses the waiters of `owner` (every waiter when undefined). */
  refuse(owner: number | undefined, reason: string): void {
    for (const waiter of [...this.waiting]) {
      if (owner !== undefined && waiter.owner !== owner) continue
      this.remove(waiter)
      waiter.refuse(reason)
    }
  }
}
