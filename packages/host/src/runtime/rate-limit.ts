/**
 * `env.LIMITER.limit({ key })` as wrangler dev emulates it (miniflare's ratelimit binding, its
 * option checks and messages): a count per key in fixed windows of the period, aligned to the
 * wall clock; bindings that share a namespace_id share the counts. Counts live in this runtime
 * process: under `wharf serve --processes N` each process counts alone, as each Cloudflare
 * location does.
 */
import type { RateLimitBinding } from '../rate-limits.js'

const OPTION_KEYS = ['key', 'limit', 'period']
const PERIODS = [10, 60]
/** Keys counted per namespace and period; past it, new keys are let through and not counted. */
const MAX_KEYS = 100_000

interface Bucket {
  readonly epoch: number
  readonly counts: Map<string, number>
}

const buckets = new Map<string, Bucket>()
let warnedFull = false

function check(test: boolean, message: string): asserts test {
  if (!test) throw new Error(message)
}

function take(namespace: string, key: string, limit: number, period: number): boolean {
  const epoch = Math.floor(Date.now() / (period * 1000))
  const id = `${namespace}\0${period}`
  let bucket = buckets.get(id)
  // A new window: every key of this namespace and period starts again (the old counts go).
  if (bucket === undefined || bucket.epoch !== epoch) {
    bucket = { epoch, counts: new Map() }
    buckets.set(id, bucket)
  }
  const count = bucket.counts.get(key) ?? 0
  if (count >= limit) return false
  if (count === 0 && bucket.counts.size >= MAX_KEYS) {
    if (!warnedFull) {
      warnedFull = true
      console.error(
        `[wharf:warn] rate limit namespace ${namespace}: more than ${MAX_KEYS} keys in one window; new keys are not counted until it ends`
      )
    }
    return true
  }
  bucket.counts.set(key, count + 1)
  return true
}

export function rateLimitBinding(config: RateLimitBinding): object {
  return Object.freeze({
    limit(options: unknown): Promise<{ success: boolean }> {
      // A bad option rejects the returned promise (the executor's throw), as miniflare's does.
      return new Promise((resolve) => {
        check(typeof options === 'object' && options !== null, 'invalid rate limit options')
        const invalid = Object.keys(options).filter((k) => !OPTION_KEYS.includes(k))
        check(invalid.length === 0, `bad rate limit options: [${invalid.join(',')}]`)
        const {
          key = '',
          limit = config.limit,
          period = config.period,
        } = options as Record<string, unknown>
        check(typeof key === 'string', `invalid key: ${String(key)}`)
        check(typeof limit === 'number', `limit must be a number: ${String(limit)}`)
        check(typeof period === 'number', `period must be a number: ${String(period)}`)
        check(PERIODS.includes(period), `unsupported period: ${period}`)
        resolve({ success: take(config.namespace, key, limit, period) })
      })
    },
  })
}
