/** Shape checks shared by the config's readers (config.ts and the binding parsers beside it). */

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A binding name, as wrangler accepts one. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
