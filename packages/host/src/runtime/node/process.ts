/**
 * The Worker's `process`, shaped as workerd's: `process.env` holds what workerd puts there (see
 * compat.ts) and never the host's, and under workerd's full `process` the native doors
 * (binding, dlopen, kill, _linkedBinding) throw workerd's error. The runtime keeps the real
 * functions it needs before this runs; the sandbox, not this, is what stops a Worker that digs
 * the originals out.
 */
import { processEnvOf, type Compat } from './compat.js'
import { notImplemented } from './errors.js'

const DOORS = ['binding', 'dlopen', 'kill', '_linkedBinding'] as const

export function shapeProcess(compat: Compat, vars: Readonly<Record<string, unknown>>): void {
  const env = process.env
  for (const key of Object.keys(env)) Reflect.deleteProperty(env, key)
  Object.assign(env, processEnvOf(compat, vars))
  if (!compat.nodejsCompat) return
  for (const name of DOORS) {
    Object.defineProperty(process, name, {
      value: compat.processV2 ? notImplemented(`process.${name}`) : undefined,
      configurable: true,
      writable: true,
    })
  }
}
