/**
 * wrangler's `ratelimits` bindings: `[{ "name", "namespace_id", "simple": { "limit", "period" } }]`,
 * validated as wrangler does (a period of 10 or 60 seconds). The runtime counts them
 * (runtime/rate-limit.ts).
 */
import { IDENTIFIER, isObject } from './config-values.js'

export interface RateLimitBinding {
  readonly binding: string
  readonly namespace: string
  readonly limit: number
  readonly period: number
}

type Fail = (field: string, message: string) => never

const MAX_BINDINGS = 1000

export function parseRateLimits(value: unknown, fail: Fail): RateLimitBinding[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) return fail('ratelimits', 'must be an array of bindings')
  if (value.length > MAX_BINDINGS)
    return fail('ratelimits', `has more than ${MAX_BINDINGS} bindings`)
  return value.map((entry: unknown, i): RateLimitBinding => {
    const field = `ratelimits[${i}]`
    if (!isObject(entry)) return fail(field, 'must be an object')
    const name = entry.name
    if (typeof name !== 'string' || !IDENTIFIER.test(name))
      return fail(`${field}.name`, 'must be a valid binding name')
    const namespace = entry.namespace_id
    if (typeof namespace !== 'string' || !/^[\w-]{1,64}$/.test(namespace))
      return fail(`${field}.namespace_id`, 'must be a string of letters and digits, like "1001"')
    const simple = entry.simple
    if (!isObject(simple))
      return fail(`${field}.simple`, 'must be { "limit": N, "period": 10 | 60 }')
    const { limit, period } = simple
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1_000_000_000)
      return fail(`${field}.simple.limit`, 'must be an integer from 1 to 1000000000')
    if (period !== 10 && period !== 60)
      return fail(`${field}.simple.period`, 'must be 10 or 60 (seconds), as on Cloudflare')
    return { binding: name, namespace, limit, period }
  })
}

/**
 * `unsafe.bindings` entries of type `ratelimit` (wrangler's older spelling of the same binding),
 * and whether `unsafe` holds anything else (which wharf ignores, with a line saying so).
 */
export function parseUnsafeRateLimits(
  value: unknown,
  fail: Fail
): { rateLimits: RateLimitBinding[]; rest: boolean } {
  if (value === undefined) return { rateLimits: [], rest: false }
  if (!isObject(value)) return fail('unsafe', 'must be an object')
  const bindings = value.bindings
  const others = Object.keys(value).some((k) => k !== 'bindings')
  if (bindings === undefined) return { rateLimits: [], rest: others }
  if (!Array.isArray(bindings)) return fail('unsafe.bindings', 'must be an array of bindings')
  const limits = bindings.filter((b: unknown) => isObject(b) && b.type === 'ratelimit')
  const rateLimits = parseRateLimits(
    limits.map((b) => {
      const { type: _type, ...rest } = b as Record<string, unknown>
      return rest
    }),
    (field, message) => fail(field.replace(/^ratelimits/, 'unsafe.bindings'), message)
  )
  return { rateLimits, rest: others || limits.length < bindings.length }
}
