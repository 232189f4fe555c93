/**
 * Node 20's web stream constructors end in `makeTransferable(this)`, which copies the new stream
 * onto a C++ transferable object and returns the copy, unless `this instanceof JSTransferable`
 * already holds. The copy gives every stream object maps of its own, leaves the original alive
 * (its controller points at it) and makes the stream functions' property reads megamorphic: about
 * 30% of a per-request socket's CPU (docs/performance.md). Streams whose prototype is marked here
 * pass that check instead: they are plain objects, so they cannot be transferred (workerd's
 * streams cannot either), and `structuredClone()` of one gives an empty object where it threw.
 * Node 22+ marks streams cheaply and has no such copy; there this does nothing.
 */
import { SocketAddress } from 'node:net'

// A registered symbol: every copy of this package in a process (two versions, say) marks alike.
const kSkipTransferableCopy = Symbol.for('wharf.skipTransferableCopy')

/** Whether this is Node 20, with `JSTransferable`'s check patched (once per process). */
const patched = ((): boolean => {
  const JSTransferable = Object.getPrototypeOf(SocketAddress) as unknown
  if (typeof JSTransferable !== 'function' || JSTransferable.name !== 'JSTransferable') return false
  if (Object.prototype.hasOwnProperty.call(JSTransferable, Symbol.hasInstance)) return true
  const defaultHasInstance = Function.prototype[Symbol.hasInstance]
  Object.defineProperty(JSTransferable, Symbol.hasInstance, {
    value: function hasInstance(this: unknown, value: unknown): boolean {
      if (
        typeof value === 'object' &&
        value !== null &&
        (value as { [kSkipTransferableCopy]?: true })[kSkipTransferableCopy] === true
      ) {
        return true
      }
      return defaultHasInstance.call(this, value)
    },
    configurable: true,
  })
  return true
})()

/**
 * Streams constructed from now on whose prototype chain holds `prototype` skip Node 20's
 * transferable copy. Returns whether that applies on this Node.
 */
export function skipTransferableCopy(prototype: object): boolean {
  if (!patched) return false
  Object.defineProperty(prototype, kSkipTransferableCopy, { value: true, configurable: true })
  return true
}
