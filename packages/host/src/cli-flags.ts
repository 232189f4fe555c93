/**
 * Flags `wharf dev` and `wharf serve` share, checked the same way: each bad value is
 * ERR_WHARF_USAGE naming the flag. And the wait both commands end with.
 */
import { parseRule } from '@wharf/sockets/egress'
import { usageError } from './errors.js'
import type { IsolationMode } from './isolation.js'

/** A port flag: 0 to 65535. */
export function portFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw usageError(`${flag} expects 0-65535 (got "${value}")`)
  return Number(value)
}

/** `--isolation auto|netns|none`. */
export function isolationFlag(value: string | undefined): IsolationMode | undefined {
  if (value === undefined || value === 'auto' || value === 'netns' || value === 'none') return value
  throw usageError(`--isolation must be auto, netns or none (got "${value}")`)
}

/** Every `--allow`/`--deny` rule parses (the egress policy's own parser), before anything starts. */
export function checkRuleFlags(
  allow: readonly string[] | undefined,
  deny: readonly string[] | undefined
): void {
  for (const [effect, list] of [
    ['allow', allow ?? []],
    ['deny', deny ?? []],
  ] as const) {
    for (const rule of list) {
      try {
        parseRule(effect, rule)
      } catch (error) {
        throw usageError(`--${effect}: ${(error as Error).message}`)
      }
    }
  }
}

/** Resolves at the first SIGINT or SIGTERM; the listeners are removed then. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
