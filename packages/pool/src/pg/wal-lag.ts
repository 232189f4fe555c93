/**
 * The WAL lag bound: the cache may serve only while its change stream has applied everything
 * the origin had committed no more than `maxLagMs` ago.
 *
 * The pooler asks the origin for its WAL position now and then (`polled`), noting when it asked.
 * Once the stream has applied that position (`applied`: a commit's end, or a keepalive outside a
 * transaction), every write committed before that moment has dropped what it touched. So a
 * result served now misses at most the writes of the last `now - vouchedAt` ms. Pure logic: the
 * clock is the caller's (performance.now()).
 */
export class LagBound {
  private polls: { readonly lsn: bigint; readonly at: number }[] = []
  private vouchedAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly maxLagMs: number,
    /** Polls kept waiting for the stream; older ones are past the bound anyway. */
    private readonly maxPending = 1_000
  ) {}

  /** A fresh stream: the origin served everything committed before `at`, nothing is pending. */
  reset(at: number): void {
    this.polls = []
    this.vouchedAt = at
  }

  /** Nothing is vouched for (the stream is down). */
  clear(): void {
    this.polls = []
    this.vouchedAt = Number.NEGATIVE_INFINITY
  }

  /** The origin's WAL position was `lsn` when asked at `at`; `applied` is the stream's. */
  polled(lsn: bigint, at: number, applied: bigint): void {
    if (lsn <= applied) {
      this.vouch(at)
      return
    }
    if (this.polls.length >= this.maxPending) this.polls.shift()
    this.polls.push({ lsn, at })
  }

  /** The stream has applied everything up to `lsn`. */
  applied(lsn: bigint): void {
    // Positions only grow, so the pending polls are in order.
    while (this.polls.length > 0 && (this.polls[0]?.lsn ?? 0n) <= lsn) {
      this.vouch(this.polls.shift()?.at ?? Number.NEGATIVE_INFINITY)
    }
  }

  private vouch(at: number): void {
    if (at > this.vouchedAt) this.vouchedAt = at
  }

  /** How far behind the origin the cache may be, in ms (Infinity before anything is vouched). */
  lagMs(now: number): number {
    return now - this.vouchedAt
  }

  /** The moment (same clock) after which the cache must stop serving unless vouched again. */
  get vouchedUntil(): number {
    return this.vouchedAt + this.maxLagMs
  }
}
