/**
 * `limits.subrequests`: how many subrequests one request may make. What counts is what reaches
 * the socket limiter's admission (socket-runtime.ts): every `connect()` (global, through a
 * service binding, through a `vpc_*` binding), every global `fetch()`, and every service
 * binding's `fetch()` (Cloudflare's service-bindings page: "Each request to a Worker via a
 * Service binding counts toward your subrequest limit"). A socket handed in to a `connect()`
 * handler is the callee's request itself, not a subrequest, so it does not count.
 */
import { currentScope, type RequestScope } from './request-scope.js'

/** workerd's message when a request makes more subrequests than allowed. */
export const TOO_MANY_SUBREQUESTS = 'Too many subrequests.'

export class SubrequestLimit {
  private readonly counts = new WeakMap<RequestScope, number>()

  constructor(
    private readonly max: number,
    /** Called once per refused call (serve's metrics). */
    private readonly onDenied: () => void = () => {}
  ) {}

  /** Counts one subrequest of the current request; throws workerd's error past the limit. */
  count(): void {
    const scope = currentScope()
    // Outside a request the caller throws workerd's global-scope error itself.
    if (scope === undefined) return
    const n = (this.counts.get(scope) ?? 0) + 1
    if (n > this.max) {
      this.onDenied()
      throw new Error(TOO_MANY_SUBREQUESTS)
    }
    this.counts.set(scope, n)
  }
}
