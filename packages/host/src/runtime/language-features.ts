/**
 * JavaScript built-ins workerd's V8 has and this Node's may lack, from core-js, installed before
 * Worker code runs: Worker code written against workerd uses `Promise.withResolvers`, Set
 * methods, iterator helpers and the like, and on Node 20 they are not there. A missing built-in
 * is defined as a lazy property that loads its core-js modules on first use (about 50 ms of
 * start-up for all of them on Node 20 otherwise). A Node that has a built-in keeps its own
 * (core-js would replace some natives it finds non-conforming). Not covered, because no polyfill can
 * be faithful or cheap: `Float16Array`, `Intl.DurationFormat`, JSON.parse's source text
 * (core-js replaces JSON.parse for it) and `JSON.rawJSON`.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** A group of built-ins defined together: `names` on `on()`, given by `modules`. */
interface Feature {
  /** What the properties live on; undefined when that is missing too (another group gives it). */
  readonly on: () => object | undefined
  readonly names: readonly string[]
  readonly modules: readonly string[]
}

/** The native `Iterator` (not the lazy one, which gives these methods itself when it loads). */
const iterator = (): object | undefined => {
  const own = Object.getOwnPropertyDescriptor(globalThis, 'Iterator')
  return own !== undefined && 'value' in own ? (own.value as object) : undefined
}

const FEATURES: readonly Feature[] = [
  { on: () => Promise, names: ['withResolvers'], modules: ['es.promise.with-resolvers'] },
  { on: () => Promise, names: ['try'], modules: ['es.promise.try'] },
  { on: () => Object, names: ['groupBy'], modules: ['es.object.group-by'] },
  { on: () => Map, names: ['groupBy'], modules: ['es.map.group-by'] },
  { on: () => Array, names: ['fromAsync'], modules: ['es.array.from-async'] },
  {
    on: () => Set.prototype,
    names: [
      'difference',
      'intersection',
      'isDisjointFrom',
      'isSubsetOf',
      'isSupersetOf',
      'symmetricDifference',
      'union',
    ],
    modules: [
      'es.set.difference.v2',
      'es.set.intersection.v2',
      'es.set.is-disjoint-from.v2',
      'es.set.is-subset-of.v2',
      'es.set.is-superset-of.v2',
      'es.set.symmetric-difference.v2',
      'es.set.union.v2',
    ],
  },
  {
    on: () => ArrayBuffer.prototype,
    names: ['detached', 'transfer', 'transferToFixedLength'],
    modules: [
      'es.array-buffer.detached',
      'es.array-buffer.transfer',
      'es.array-buffer.transfer-to-fixed-length',
    ],
  },
  {
    on: () => globalThis,
    names: ['Iterator'],
    modules: [
      'es.iterator.constructor',
      'es.iterator.concat',
      'es.iterator.drop',
      'es.iterator.every',
      'es.iterator.filter',
      'es.iterator.find',
      'es.iterator.flat-map',
      'es.iterator.for-each',
      'es.iterator.from',
      'es.iterator.map',
      'es.iterator.reduce',
      'es.iterator.some',
      'es.iterator.take',
      'es.iterator.to-array',
      'es.iterator.zip',
      'es.iterator.zip-keyed',
    ],
  },
  { on: iterator, names: ['concat'], modules: ['es.iterator.concat'] },
  {
    on: iterator,
    names: ['zip', 'zipKeyed'],
    modules: ['es.iterator.zip', 'es.iterator.zip-keyed'],
  },
  { on: () => RegExp, names: ['escape'], modules: ['es.regexp.escape'] },
  { on: () => Error, names: ['isError'], modules: ['es.error.is-error'] },
  { on: () => Math, names: ['sumPrecise'], modules: ['es.math.sum-precise'] },
  { on: () => Math, names: ['f16round'], modules: ['es.math.f16round'] },
  {
    on: () => DataView.prototype,
    names: ['getFloat16', 'setFloat16'],
    modules: ['es.data-view.get-float16', 'es.data-view.set-float16'],
  },
  {
    on: () => Uint8Array,
    names: ['fromBase64', 'fromHex'],
    modules: ['es.uint8-array.from-base64', 'es.uint8-array.from-hex'],
  },
  {
    on: () => Uint8Array.prototype,
    names: ['setFromBase64', 'setFromHex', 'toBase64', 'toHex'],
    modules: [
      'es.uint8-array.set-from-base64',
      'es.uint8-array.set-from-hex',
      'es.uint8-array.to-base64',
      'es.uint8-array.to-hex',
    ],
  },
  {
    on: () => globalThis,
    names: ['SuppressedError'],
    modules: ['es.suppressed-error.constructor'],
  },
  {
    on: () => globalThis,
    names: ['DisposableStack'],
    modules: ['es.disposable-stack.constructor'],
  },
  {
    on: () => globalThis,
    names: ['AsyncDisposableStack'],
    modules: ['es.async-disposable-stack.constructor'],
  },
  {
    on: () => Map.prototype,
    names: ['getOrInsert', 'getOrInsertComputed'],
    modules: ['es.map.get-or-insert', 'es.map.get-or-insert-computed'],
  },
  {
    on: () => WeakMap.prototype,
    names: ['getOrInsert', 'getOrInsertComputed'],
    modules: ['es.weak-map.get-or-insert', 'es.weak-map.get-or-insert-computed'],
  },
]

/** Defines the group's missing names as accessors that load its modules on first use. */
function defineLazily(target: object, names: readonly string[], modules: readonly string[]): void {
  let loaded = false
  const load = (): void => {
    if (loaded) return
    loaded = true
    for (const name of names) Reflect.deleteProperty(target, name)
    for (const module of modules) require(`core-js/modules/${module}.js`)
  }
  for (const name of names) {
    Object.defineProperty(target, name, {
      configurable: true,
      enumerable: false,
      get(this: unknown): unknown {
        load()
        return Reflect.get(target, name, this)
      },
      set(this: unknown, value: unknown): void {
        load()
        Reflect.set(target, name, value, this)
      },
    })
  }
}

/** Installs what this Node lacks; returns the names it defined (lazily). */
export function installLanguageFeatures(): string[] {
  const defined: string[] = []
  for (const { on, names, modules } of FEATURES) {
    const target = on()
    if (target === undefined) continue
    const missing = names.filter((name) => !(name in target))
    if (missing.length === 0) continue
    defineLazily(target, missing, modules)
    defined.push(...missing)
  }
  return defined
}
