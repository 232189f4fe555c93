/**
 * What a Worker's `node:*` import becomes, with and without `nodejs_compat`. One row per
 * built-in, so a reader (or another engineer adding a replacement module) changes one place.
 *
 * - `node`: Node's own module, which matches what workerd gives for these (buffer, events, …).
 * - `module`: a replacement module, given as a specifier the host resolves (e.g. node:net built
 *   on `connect()`, so every connection passes the dial broker and the egress policy).
 * - `stub`: importable, but every function throws `not implemented` when called, as unenv's
 *   stubs do in wrangler's bundle (importing a driver that mentions it still works).
 *
 * Anything not in the table (or any `node:*` import without `nodejs_compat`) fails the build
 * with wrangler's message.
 */
import { builtinModules } from 'node:module'

export type BuiltinTarget =
  | { readonly kind: 'node' }
  | { readonly kind: 'module'; readonly specifier: string }
  | { readonly kind: 'stub' }

const NODE = { kind: 'node' } as const
const STUB = { kind: 'stub' } as const

/** Under `nodejs_compat` (workerd's built-ins, plus wrangler's unenv stubs for the rest). */
export const NODEJS_COMPAT_BUILTINS: Readonly<Record<string, BuiltinTarget>> = {
  assert: NODE,
  'assert/strict': NODE,
  async_hooks: NODE,
  buffer: NODE,
  crypto: NODE,
  diagnostics_channel: NODE,
  dns: NODE,
  'dns/promises': NODE,
  events: NODE,
  path: NODE,
  'path/posix': NODE,
  'path/win32': NODE,
  perf_hooks: NODE,
  process: NODE,
  punycode: NODE,
  querystring: NODE,
  stream: NODE,
  'stream/consumers': NODE,
  'stream/promises': NODE,
  'stream/web': NODE,
  string_decoder: NODE,
  timers: NODE,
  'timers/promises': NODE,
  url: NODE,
  util: NODE,
  'util/types': NODE,
  zlib: NODE,
  os: NODE,
  tty: NODE,
  // Sockets: built on `connect()` (packages/sockets/src/node/), never Node's own.
  net: { kind: 'module', specifier: '@wharf/sockets/node/net' },
  tls: { kind: 'module', specifier: '@wharf/sockets/node/tls' },
  // The [sandbox] area replaces these with contained versions; until then, Node's own (fs) or
  // stubs (the process-spawning and native ones, which workerd does not have either).
  fs: NODE,
  'fs/promises': NODE,
  http: NODE,
  https: NODE,
  // workerd's stand-ins, by the Worker's compatibility date, from the runtime's resolve hook
  // (runtime/node/, [sandbox]): the bundle leaves these imports to the runtime.
  child_process: NODE,
  cluster: NODE,
  dgram: STUB,
  http2: STUB,
  inspector: NODE,
  'inspector/promises': STUB,
  module: NODE,
  readline: STUB,
  'readline/promises': STUB,
  repl: STUB,
  trace_events: STUB,
  v8: STUB,
  vm: NODE,
  wasi: STUB,
  worker_threads: NODE,
  sqlite: STUB,
  domain: STUB,
  constants: NODE,
  sys: NODE,
  console: NODE,
  // The mock API only (runtime/node/test.ts), as workerd has it.
  test: NODE,
  // Node's legacy stream module names, which workerd keeps (only as `node:_stream_*`).
  _stream_duplex: NODE,
  _stream_passthrough: NODE,
  _stream_readable: NODE,
  _stream_transform: NODE,
  _stream_writable: NODE,
}

/** Export names of stubbed modules this Node may not have (Node 20 has no node:sqlite). */
export const STUB_EXPORTS: Readonly<Record<string, readonly string[]>> = {
  sqlite: ['DatabaseSync', 'StatementSync', 'backup', 'constants'],
}

/** Without `nodejs_compat`: only what a narrower flag turns on. */
export function builtinsFor(flags: readonly string[]): Readonly<Record<string, BuiltinTarget>> {
  if (flags.includes('nodejs_compat') || flags.includes('nodejs_compat_v2'))
    return NODEJS_COMPAT_BUILTINS
  if (flags.includes('nodejs_als')) return { async_hooks: NODE }
  return {}
}

const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')))

/** `node:net` and `net` both name the built-in `net`; returns undefined for a package name. */
export function builtinName(specifier: string): string | undefined {
  const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier
  if (specifier.startsWith('node:') || BUILTINS.has(name)) return name
  return undefined
}

/** wrangler's build error for a built-in the Worker may not import. */
export function unavailableMessage(name: string, flags: readonly string[]): string {
  const compat = flags.includes('nodejs_compat') || flags.includes('nodejs_compat_v2')
  if (compat)
    return `The built-in module "node:${name}" is not available in Workers (nodejs_compat has no "${name}")`
  return `Could not resolve "node:${name}": the package "node:${name}" wasn't found on the file system but is built into node. Add "nodejs_compat" to compatibility_flags in the config (with a compatibility_date of 2024-09-23 or later) to use Node.js built-ins`
}

/**
 * npm packages that wrangler's nodejs_compat bundle replaces (unenv's aliases), so code that
 * requires them gets the platform's version: the fetch polyfills become the global fetch.
 */
export const NPM_ALIASES: Readonly<Record<string, 'fetch'>> = {
  'cross-fetch': 'fetch',
  'node-fetch': 'fetch',
  'isomorphic-fetch': 'fetch',
  'whatwg-fetch': 'fetch',
}
