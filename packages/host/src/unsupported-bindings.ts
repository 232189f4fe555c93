/**
 * Bindings of Cloudflare products wharf does not provide (Durable Objects, KV, R2, D1, AI, ...).
 * A project that has them still starts (the rest of it may work), and each such `env.NAME` is
 * an object whose every use throws ERR_WHARF_UNSUPPORTED_BINDING naming the binding and its
 * config field, instead of `Cannot read properties of undefined` somewhere in the user's code.
 */

/** One binding of an unsupported kind, as the config names it. */
export interface UnsupportedBinding {
  readonly binding: string
  /** The wrangler field it comes from, e.g. `durable_objects`. */
  readonly field: string
  /** What it is, for messages: "a Durable Object namespace". */
  readonly kind: string
}

import { WharfUnsupportedBindingError } from './errors.js'

type Json = Record<string, unknown>

/** Where each wrangler field keeps its bindings' names, and what they are. */
const FIELDS: readonly {
  readonly field: string
  readonly kind: string
  /** The list of entries (or the single entry) under the field. */
  readonly entries: (value: unknown) => unknown[]
  readonly key: 'binding' | 'name'
}[] = [
  {
    field: 'durable_objects',
    kind: 'a Durable Object namespace',
    entries: nested('bindings'),
    key: 'name',
  },
  { field: 'kv_namespaces', kind: 'a KV namespace', entries: list, key: 'binding' },
  { field: 'r2_buckets', kind: 'an R2 bucket', entries: list, key: 'binding' },
  { field: 'd1_databases', kind: 'a D1 database', entries: list, key: 'binding' },
  { field: 'queues', kind: 'a Queue producer', entries: nested('producers'), key: 'binding' },
  { field: 'workflows', kind: 'a Workflow', entries: list, key: 'binding' },
  { field: 'ai', kind: 'Workers AI', entries: single, key: 'binding' },
  { field: 'vectorize', kind: 'a Vectorize index', entries: list, key: 'binding' },
  {
    field: 'analytics_engine_datasets',
    kind: 'an Analytics Engine dataset',
    entries: list,
    key: 'binding',
  },
  { field: 'browser', kind: 'Browser Rendering', entries: single, key: 'binding' },
  { field: 'images', kind: 'Images', entries: single, key: 'binding' },
  { field: 'send_email', kind: 'an email sender', entries: list, key: 'name' },
  { field: 'mtls_certificates', kind: 'an mTLS certificate', entries: list, key: 'binding' },
  { field: 'secrets_store_secrets', kind: 'a Secrets Store secret', entries: list, key: 'binding' },
  { field: 'pipelines', kind: 'a Pipeline', entries: list, key: 'binding' },
  { field: 'worker_loaders', kind: 'a Worker Loader', entries: list, key: 'binding' },
]

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value.slice(0, 10_000) : []
}
function single(value: unknown): unknown[] {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? [value] : []
}
function nested(key: string): (value: unknown) => unknown[] {
  return (value) => (value !== null && typeof value === 'object' ? list((value as Json)[key]) : [])
}

const NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** The unsupported bindings a (environment-resolved) raw config declares. */
export function unsupportedBindings(raw: Json): UnsupportedBinding[] {
  const found: UnsupportedBinding[] = []
  for (const { field, kind, entries, key } of FIELDS) {
    for (const entry of entries(raw[field])) {
      if (entry === null || typeof entry !== 'object') continue
      const binding = (entry as Json)[key]
      if (typeof binding === 'string' && NAME.test(binding)) found.push({ binding, field, kind })
    }
  }
  return found
}

/** The start-up warning for one such binding. */
export function unsupportedWarning(b: UnsupportedBinding): string {
  return `env.${b.binding} (${b.field}) is ${b.kind}, which wharf does not provide: using it throws ERR_WHARF_UNSUPPORTED_BINDING`
}

/**
 * `env.NAME` for an unsupported binding: reading any member throws. Symbols, `then` and `toJSON`
 * read as undefined, so `await`, `console.log(env)` and `JSON.stringify(env)` keep working.
 */
export function unsupportedBinding(b: UnsupportedBinding): object {
  return new Proxy(Object.freeze(Object.create(null) as object), {
    get(_target, key) {
      if (typeof key === 'symbol' || key === 'then' || key === 'toJSON') return undefined
      throw new WharfUnsupportedBindingError(b, key)
    },
  })
}
