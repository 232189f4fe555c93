/**
 * `node:module` as workerd gives it under nodejs_compat (every export and message found by
 * running workerd): `builtinModules` and `isBuiltin()` answer for workerd's built-ins,
 * `createRequire()` gives a `require` that loads built-ins (the Worker's stand-ins, through
 * `process.getBuiltinModule`) and fails for anything else as workerd's does for a name not in
 * its bundle; the loader's own machinery throws ERR_METHOD_NOT_IMPLEMENTED.
 */
import { ERR_METHOD_NOT_IMPLEMENTED, notImplemented } from './errors.js'

/** workerd 1.20261117.1's list, in its order. */
export const builtinModules: readonly string[] = Object.freeze([
  '_http_agent',
  '_http_client',
  '_http_common',
  '_http_incoming',
  '_http_outgoing',
  '_http_server',
  '_stream_duplex',
  '_stream_passthrough',
  '_stream_readable',
  '_stream_transform',
  '_stream_wrap',
  '_stream_writable',
  '_tls_common',
  '_tls_wrap',
  'assert',
  'assert/strict',
  'async_hooks',
  'buffer',
  'child_process',
  'cluster',
  'console',
  'constants',
  'crypto',
  'dgram',
  'diagnostics_channel',
  'dns',
  'dns/promises',
  'domain',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'inspector',
  'inspector/promises',
  'module',
  'net',
  'os',
  'path',
  'path/posix',
  'path/win32',
  'perf_hooks',
  'process',
  'punycode',
  'querystring',
  'readline',
  'readline/promises',
  'repl',
  'stream',
  'stream/consumers',
  'stream/promises',
  'stream/web',
  'string_decoder',
  'sys',
  'timers',
  'timers/promises',
  'tls',
  'trace_events',
  'tty',
  'url',
  'util',
  'util/types',
  'v8',
  'vm',
  'wasi',
  'worker_threads',
  'zlib',
])

/** workerd has node:sqlite but leaves it out of the list; isBuiltin() still names it. */
const BUILTINS = new Set([...builtinModules, 'sqlite'])

/** workerd: every `node:` name counts as built-in, and the bare names it has. */
export function isBuiltin(id: unknown): boolean {
  return typeof id === 'string' && (id.startsWith('node:') || BUILTINS.has(id))
}

function invalidPath(path: unknown): TypeError {
  return Object.assign(
    new TypeError(
      `The argument 'path' The argument must be a file URL object, a file URL string, or an absolute path string.. Received '${String(path)}'`
    ),
    { code: 'ERR_INVALID_ARG_VALUE' }
  )
}

/** The directory `path` names a module in, as workerd's module registry spells it (no leading /). */
function directoryOf(path: unknown): string {
  let pathname: string
  if (path instanceof URL) {
    if (path.protocol !== 'file:') throw invalidPath(path)
    pathname = path.pathname
  } else if (typeof path === 'string' && path.startsWith('file:')) {
    try {
      pathname = new URL(path).pathname
    } catch {
      throw invalidPath(path)
    }
  } else if (typeof path === 'string' && path.startsWith('/')) pathname = path
  else throw invalidPath(path)
  return pathname.slice(1, Math.max(pathname.lastIndexOf('/'), 0))
}

/** `a/b` joined with a relative or bare specifier, `.`/`..` resolved, at most 256 segments. */
function joined(dir: string, id: string): string {
  const parts = dir === '' ? [] : dir.split('/')
  for (const part of id.split('/').slice(0, 256)) {
    if (part === '..') parts.pop()
    else if (part !== '.' && part !== '') parts.push(part)
  }
  return parts.join('/')
}

export function createRequire(path: unknown): (id: string) => unknown {
  const dir = directoryOf(path)
  return function require(id: string): unknown {
    if (typeof id === 'string' && isBuiltin(id)) {
      const getBuiltinModule = (process as { getBuiltinModule?: (id: string) => unknown })
        .getBuiltinModule
      const found = getBuiltinModule?.call(process, id)
      if (found !== undefined) return found
    }
    throw new Error(`No such module "${joined(dir, String(id))}".`)
  }
}

const fail = (name: string): ((...args: unknown[]) => never) => notImplemented(`module.${name}`)

/** `Module` itself (the default export too): constructing one is not implemented. */
export function Module(): never {
  throw new ERR_METHOD_NOT_IMPLEMENTED('module.Module')
}

export class SourceMap {
  constructor() {
    fail('SourceMap')()
  }
}

export const constants = Object.freeze({
  compileCacheStatus: Object.freeze({ FAILED: 0, ENABLED: 1, ALREADY_ENABLED: 2, DISABLED: 3 }),
})
export const globalPaths: string[] = []
export const _cache: Record<string, unknown> = {}
export const _pathCache: Record<string, unknown> = {}
export const _extensions: Record<string, unknown> = {
  '.js': fail('_extensions..js'),
  '.json': fail('_extensions..json'),
  '.node': fail('_extensions..node'),
}
export const _debug = (): void => undefined
export const _findPath = fail('_findPath')
export const _initPaths = fail('_initPaths')
export const _load = fail('_load')
export const _nodeModulePaths = fail('_nodeModulePaths')
export const _preloadModules = fail('_preloadModules')
export const _resolveFilename = fail('_resolveFilename')
export const _resolveLookupPaths = fail('_resolveLookupPaths')
export const enableCompileCache = (): undefined => undefined
export const flushCompileCache = (): void => undefined
export const getCompileCacheDir = (): undefined => undefined
export const findPackageJSON = fail('findPackageJSON')
export const findSourceMap = fail('findSourceMap')
export const getSourceMapsSupport = (): object => ({
  enabled: false,
  nodeModules: false,
  generatedCode: false,
})
export const register = fail('register')
export const registerHooks = fail('registerHooks')
export const runMain = fail('runMain')
export const setSourceMapsSupport = fail('setSourceMapsSupport')
export const stripTypeScriptTypes = fail('stripTypeScriptTypes')
export const syncBuiltinESMExports = fail('syncBuiltinESMExports')
export const wrap = fail('wrap')

Object.assign(Module, {
  Module,
  SourceMap,
  _cache,
  _debug,
  _extensions,
  _findPath,
  _initPaths,
  _load,
  _nodeModulePaths,
  _pathCache,
  _preloadModules,
  _resolveFilename,
  _resolveLookupPaths,
  builtinModules,
  constants,
  createRequire,
  enableCompileCache,
  findPackageJSON,
  findSourceMap,
  flushCompileCache,
  getCompileCacheDir,
  getSourceMapsSupport,
  globalPaths,
  isBuiltin,
  register,
  registerHooks,
  runMain,
  setSourceMapsSupport,
  stripTypeScriptTypes,
  syncBuiltinESMExports,
  wrap,
})

export default Module
