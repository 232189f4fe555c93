/**
 * The esbuild plugin behind the Worker bundle: `cloudflare:*` and Node built-ins (per
 * node-builtins.ts), `require()` of built-ins inside an ESM bundle (as wrangler's bundle allows
 * under nodejs_compat), `alias`, and the Text/Data/CompiledWasm module rules.
 */
import { createRequire } from 'node:module'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Plugin, PluginBuild } from 'esbuild'
import { compatOf } from '../runtime/node/compat.js'
import {
  NPM_ALIASES,
  STUB_EXPORTS,
  builtinName,
  builtinsFor,
  unavailableMessage,
  type BuiltinTarget,
} from './node-builtins.js'
import {
  isValueModuleType,
  MAX_VALUE_MODULE_BYTES,
  ruleFor,
  valueModuleSource,
  type ModuleRule,
  type ValueModuleType,
} from './rules.js'

export interface PluginSettings {
  readonly flags: readonly string[]
  /** The compatibility date: which built-ins workerd has yet (the rest are unenv's stand-ins). */
  readonly date?: string | undefined
  readonly rules: readonly ModuleRule[]
  readonly alias: Readonly<Record<string, string>>
}

const REQUIRE_NS = 'wharf-require'
const STUB_NS = 'wharf-stub'
/** The namespace of module-rule files (Text, Data, CompiledWasm): the watcher reads it. */
export const RULE_NAMESPACE = 'wharf-rule'
const RULE_NS = RULE_NAMESPACE
/** Marks the plugin's own resolve of a rule file through esbuild (so it is not seen again). */
const RULE_PROBE = 'wharf-rule-probe'
const NPM_NS = 'wharf-npm'

const hostRequire = createRequire(import.meta.url)

/** File URLs of what the host provides, resolved once from the host's own install. */
function hostModule(specifier: string): string | undefined {
  try {
    return pathToFileURL(hostRequire.resolve(specifier)).href
  } catch {
    return undefined
  }
}

/**
 * A built-in workerd does not have yet at the Worker's date is, in wrangler's nodejs_compat
 * bundle, unenv's stand-in (the version wrangler pins): importing works, and each function
 * throws `[unenv] … is not implemented yet!` when called. A driver that imports child_process
 * for a path it never takes (nodemailer's sendmail transport) then loads as under wrangler dev.
 * A computed `import()` reaches the runtime instead, which answers as workerd does.
 */
function unenvModule(name: string): string | undefined {
  return hostModule(`unenv/node/${name}`)
}

export const CLOUDFLARE_MODULES: Readonly<Record<string, () => string | undefined>> = {
  'cloudflare:sockets': () => hostModule('@wharf/sockets'),
  'cloudflare:workers': () => new URL('../runtime/cloudflare-workers.js', import.meta.url).href,
  'cloudflare:node': () => new URL('../runtime/cloudflare-node.js', import.meta.url).href,
}

/**
 * A CommonJS module whose every export throws when called (names from Node's own module, so
 * named imports of any of them build; CommonJS so a name this Node lacks is not a build error).
 */
function stubSource(name: string): string {
  let keys: string[]
  try {
    keys = Object.keys(hostRequire(`node:${name}`) as object)
  } catch {
    keys = [...(STUB_EXPORTS[name] ?? [])]
  }
  const ids = keys.filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default').slice(0, 500)
  const fail = (k: string): string =>
    `function () { throw new Error(${JSON.stringify(`[wharf] node:${name}.${k} is not implemented in Workers`)}) }`
  return `module.exports = {\n${ids.map((k) => `  ${k}: ${fail(k)},`).join('\n')}\n};\n`
}

const STUB_PREFIX = 'wharf-stub:'

/** Where an import of built-in `name` goes: `node:x`, a host file URL, or `wharf-stub:x`. */
function targetSpecifier(name: string, target: BuiltinTarget): string {
  if (target.kind === 'node') return `node:${name}`
  if (target.kind === 'module') {
    // A replacement missing from this build fails closed (a stub), never Node's own module.
    return hostModule(target.specifier) ?? `${STUB_PREFIX}${name}`
  }
  return `${STUB_PREFIX}${name}`
}

export function workerPlugin(settings: PluginSettings): Plugin {
  const table = builtinsFor(settings.flags)
  const compat = compatOf({ compatibilityDate: settings.date, compatibilityFlags: settings.flags })
  const missingAtDate = new Set(
    compat.nodejsCompat
      ? Object.entries(compat.modules)
          .filter(([, exists]) => !exists)
          .map(([name]) => name)
      : []
  )
  return {
    name: 'wharf-worker',
    setup(build: PluginBuild) {
      // cloudflare:* : the host's implementations, by file URL, outside the bundle.
      build.onResolve({ filter: /^cloudflare:/ }, (args) => {
        const url = CLOUDFLARE_MODULES[args.path]?.()
        if (url === undefined) {
          return {
            errors: [
              {
                text: `"${args.path}" is not provided by wharf (it provides ${Object.keys(CLOUDFLARE_MODULES).join(', ')})`,
              },
            ],
          }
        }
        return { path: url, external: true }
      })

      // alias: exact keys and their subpaths, resolved from the project root like wrangler.
      const aliases = Object.entries(settings.alias)
      if (aliases.length > 0) {
        build.onResolve({ filter: /.*/ }, async (args) => {
          if (args.pluginData === 'aliased') return undefined
          for (const [from, to] of aliases) {
            if (args.path !== from && !args.path.startsWith(`${from}/`)) continue
            const target = to + args.path.slice(from.length)
            const result = await build.resolve(target, {
              kind: args.kind,
              resolveDir: build.initialOptions.absWorkingDir ?? process.cwd(),
              importer: args.importer,
              pluginData: 'aliased',
            })
            return result.errors.length > 0 ? { errors: result.errors } : result
          }
          return undefined
        })
      }

      // Node built-ins: `node:x` always, a bare `x` only when no package of that name shadows it
      // without nodejs_compat (wrangler resolves bare names to npm polyfills then).
      build.onResolve({ filter: /^[a-z_/:0-9]+$/ }, (args) => {
        if (args.namespace === REQUIRE_NS) return undefined
        const name = builtinName(args.path)
        if (name === undefined) return undefined
        const target: BuiltinTarget | undefined = table[name]
        if (target === undefined) {
          if (!args.path.startsWith('node:') && Object.keys(table).length === 0) return undefined
          return { errors: [{ text: unavailableMessage(name, settings.flags) }] }
        }
        const specifier =
          (missingAtDate.has(name) ? unenvModule(name) : undefined) ?? targetSpecifier(name, target)
        if (args.kind === 'require-call') {
          // Named by the built-in: a target path ending in `.mjs` (unenv's) would make esbuild
          // treat the CommonJS shim as an ES module.
          return { path: name, namespace: REQUIRE_NS, pluginData: specifier }
        }
        if (specifier.startsWith(STUB_PREFIX)) {
          return { path: specifier.slice(STUB_PREFIX.length), namespace: STUB_NS }
        }
        return { path: specifier, external: true }
      })

      // require('node:x') in an ESM bundle: a tiny CommonJS module that re-exports the import.
      build.onLoad({ filter: /.*/, namespace: REQUIRE_NS }, (args) => ({
        contents: `import * as ns from ${JSON.stringify(args.pluginData as string)};\nmodule.exports = ns.default ?? ns;\n`,
        loader: 'js',
      }))
      build.onResolve({ filter: /.*/, namespace: REQUIRE_NS }, (args) =>
        args.path.startsWith(STUB_PREFIX)
          ? { path: args.path.slice(STUB_PREFIX.length), namespace: STUB_NS }
          : { path: args.path, external: true }
      )
      build.onLoad({ filter: /.*/, namespace: STUB_NS }, (args) => ({
        contents: stubSource(args.path),
        loader: 'js',
      }))

      // unenv's npm aliases under nodejs_compat: the fetch polyfills are the platform's fetch.
      if (Object.keys(table).length > 0) {
        const names = Object.keys(NPM_ALIASES).map((n) => n.replace(/[-/]/g, '\\$&'))
        build.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (args) => ({
          path: args.path,
          namespace: NPM_NS,
        }))
        build.onLoad({ filter: /.*/, namespace: NPM_NS }, () => ({
          contents: [
            'const f = (...args) => globalThis.fetch(...args);',
            'Object.assign(f, { default: f, fetch: f, Headers, Request, Response });',
            'module.exports = f;',
          ].join('\n'),
          loader: 'js',
        }))
      }

      // `debug` under nodejs_compat: its Node build (the package's `main`), not its `browser`
      // field, as wrangler's alias forces; resolved the way Node would, from the importer.
      if (Object.keys(table).length > 0) {
        build.onResolve({ filter: /^debug$/ }, (args) => {
          if (args.namespace !== 'file' || args.resolveDir === '') return undefined
          try {
            const from = createRequire(join(args.resolveDir, 'noop.js'))
            return { path: from.resolve('debug') }
          } catch {
            return undefined // not installed: esbuild reports it as usual
          }
        })
      }

      // Module rules: Text (a string), Data (an ArrayBuffer), CompiledWasm (a WebAssembly.Module).
      build.onResolve({ filter: /\.[A-Za-z0-9]+(\?module)?$/ }, async (args) => {
        if (args.namespace !== 'file' || args.path.startsWith('cloudflare:')) return undefined
        if (args.pluginData === RULE_PROBE) return undefined
        const type = ruleFor(settings.rules, args.path)
        if (!isValueModuleType(type)) return undefined
        const clean = args.path.replace(/\?module$/, '')
        if (isAbsolute(clean) || /^\.\.?\//.test(clean)) {
          return { path: resolvePath(args.resolveDir, clean), namespace: RULE_NS, pluginData: type }
        }
        // A package's file, as wrangler finds it: by the package's directory when the file is
        // there (exports or not), else through its exports.
        const inPackage = packageFile(clean, args.resolveDir)
        if (inPackage !== undefined)
          return { path: inPackage, namespace: RULE_NS, pluginData: type }
        const exported = await build.resolve(clean, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: RULE_PROBE,
        })
        const path =
          exported.errors.length === 0 && exported.path !== ''
            ? exported.path
            : resolvePath(args.resolveDir, clean)
        return { path, namespace: RULE_NS, pluginData: type }
      })
      build.onLoad({ filter: /.*/, namespace: RULE_NS }, (args) => {
        const type = args.pluginData as ValueModuleType
        let bytes: Buffer
        try {
          bytes = readFileSync(args.path)
        } catch (error) {
          return { errors: [{ text: `cannot read ${args.path}: ${(error as Error).message}` }] }
        }
        if (bytes.length > MAX_VALUE_MODULE_BYTES) {
          return { errors: [{ text: `${args.path} is larger than 64 MiB` }] }
        }
        return {
          contents: valueModuleSource(type, bytes),
          loader: 'js',
          watchFiles: [args.path],
        }
      })
    },
  }
}

/**
 * `pkg/sub/path.ext` (or `@scope/pkg/…`) as a file in the nearest `node_modules/pkg` above `from`
 * that has it, ignoring the package's exports (the `resolve` package's lookup, which wrangler
 * uses for rule files). Bounded by the directory depth.
 */
export function packageFile(specifier: string, from: string): string | undefined {
  const parts = specifier.split('/')
  const nameLength = specifier.startsWith('@') ? 2 : 1
  if (parts.length <= nameLength || parts.some((p) => p === '..' || p === '')) return undefined
  const name = parts.slice(0, nameLength).join('/')
  const rest = parts.slice(nameLength).join('/')
  let dir = resolvePath(from)
  for (let depth = 0; depth < 64; depth++) {
    const candidate = join(dir, 'node_modules', name, rest)
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
  return undefined
}
