/**
 * Builds a Worker the way wrangler does: one esbuild bundle with the `workerd`, `worker` and
 * `browser` export conditions, module rules, `define`, `alias`, tsconfig `paths` and JSX. Each
 * build is written to its own version directory, and the runtime process loads only that
 * directory (plus the host's own runtime modules), which keeps sandboxing simple. `wharf dev`
 * rebuilds incrementally through one esbuild context; `wharf serve` can call `buildWorker`.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import * as esbuild from 'esbuild'
import { WharfBuildError } from '../errors.js'
import { RULE_NAMESPACE, workerPlugin } from './plugin.js'
import {
  effectiveRules,
  isValueModuleType,
  MAX_VALUE_MODULE_BYTES,
  ruleFor,
  valueModuleSource,
  type ModuleRule,
  type ModuleType,
} from './rules.js'

/** What the bundler needs from the config (WorkerConfig has all of it). */
export interface BuildSettings {
  /** Absolute path of the entry module. */
  readonly main: string
  /** The project directory (the config file's): relative paths and tsconfig lookup start here. */
  readonly root: string
  readonly compatibilityFlags: readonly string[]
  readonly compatibilityDate?: string
  readonly rules?: readonly ModuleRule[]
  readonly define?: Readonly<Record<string, string>>
  readonly alias?: Readonly<Record<string, string>>
  /** `no_bundle`: main and its modules are transformed one by one, imports left as written. */
  readonly noBundle?: boolean
  /** With `no_bundle`: the JavaScript modules under `baseDir` are built alongside main. */
  readonly findAdditionalModules?: boolean
  readonly baseDir?: string
  /** `tsconfig` from the config (path relative to the root). */
  readonly tsconfig?: string
  readonly jsxFactory?: string
  readonly jsxFragment?: string
}

export interface WorkerBundle {
  /** The version directory: everything the runtime loads is in here. */
  readonly dir: string
  /** Absolute path of the entry module in `dir`. */
  readonly entry: string
  /** Source files the bundle was made from (for watching). */
  readonly inputs: readonly string[]
  readonly warnings: readonly string[]
  /** Build time in milliseconds. */
  readonly ms: number
  /** Whether the runtime must resolve `cloudflare:*` itself (no_bundle leaves imports as written). */
  readonly unbundled: boolean
  /**
   * no_bundle: files Node must load in a format their extension does not say (CommonJS by a rule,
   * Text, Data and CompiledWasm modules), by absolute path in `dir`.
   */
  readonly moduleFormats?: Readonly<Record<string, 'module' | 'commonjs'>>
  /** The entry exports nothing: the service-worker syntax, as wrangler decides it. */
  readonly serviceWorker?: boolean
}

const ENTRY_NAME = 'worker'

/** Formats esbuild messages as `file:line:column: error: text`, like esbuild's CLI. */
export function formatMessages(messages: readonly esbuild.Message[]): string {
  return messages
    .slice(0, 20)
    .map((m) => {
      // esbuild names files relative to absWorkingDir (the project root).
      const where = m.location
        ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: `
        : ''
      const line = m.location?.lineText ? `\n    ${m.location.lineText.trim()}` : ''
      const notes = m.notes.map((n) => `\n  ${n.text}`).join('')
      return `${where}${m.text}${line}${notes}`
    })
    .join('\n')
}

function buildError(error: unknown): WharfBuildError {
  const failure = error as Partial<esbuild.BuildFailure>
  if (Array.isArray(failure.errors) && failure.errors.length > 0) {
    return new WharfBuildError(`the Worker failed to build:\n${formatMessages(failure.errors)}`)
  }
  return new WharfBuildError(`the Worker failed to build: ${(error as Error).message}`, {
    cause: error,
  })
}

/**
 * `process.env.NODE_ENV` as wrangler dev replaces it: the host's NODE_ENV if it is a plain word,
 * else "development" (only this one variable, never the rest of the host's environment).
 */
const NODE_ENV = /^[\w.-]{1,32}$/.test(process.env.NODE_ENV ?? '')
  ? (process.env.NODE_ENV ?? 'development')
  : 'development'
const NODE_ENV_DEFINES: Readonly<Record<string, string>> = Object.fromEntries(
  ['process.env.NODE_ENV', 'global.process.env.NODE_ENV', 'globalThis.process.env.NODE_ENV'].map(
    (key) => [key, JSON.stringify(NODE_ENV)]
  )
)

const MAX_ADDITIONAL = 5000

/**
 * A module of a `no_bundle` Worker: its path, where it lands in the version directory (its path
 * under base_dir, see unbundledTarget) and the rule type it loads as.
 */
interface UnbundledModule {
  readonly path: string
  readonly target: string
  readonly type: ModuleType
}

/**
 * A `no_bundle` Worker's modules: main, and with find_additional_modules every file under
 * base_dir a module rule matches (JavaScript by its extension where no rule does), bounded.
 */
function unbundledModules(settings: BuildSettings): UnbundledModule[] {
  const base = settings.baseDir ?? dirname(settings.main)
  const rules = effectiveRules(settings.rules ?? [])
  const typeOf = (file: string): ModuleType | undefined =>
    ruleFor(rules, file) ??
    (/\.(m?js|ts|mts)$/.test(file) ? 'ESModule' : /\.c[jt]s$/.test(file) ? 'CommonJS' : undefined)
  const mainRelative = relative(base, settings.main)
  // main first: the entry is the first module's target.
  const found: UnbundledModule[] = [
    { path: settings.main, target: unbundledTarget(mainRelative), type: 'ESModule' },
  ]
  if (settings.findAdditionalModules !== true) return found
  for (const file of readdirSync(base, { recursive: true, encoding: 'utf8' })) {
    if (/(^|[\\/])(node_modules|\.git|\.wrangler)([\\/]|$)/.test(file)) continue
    const type = typeOf(file)
    if (type === undefined || file === mainRelative) continue
    found.push({ path: join(base, file), target: unbundledTarget(file), type })
    if (found.length > MAX_ADDITIONAL) {
      throw new WharfBuildError(
        `find_additional_modules: more than ${MAX_ADDITIONAL} modules under ${base}`
      )
    }
  }
  return found
}

/**
 * Where a `no_bundle` module lands in the version directory: at its own path, since imports are
 * left as written (TypeScript becomes the JavaScript its imports name).
 */
function unbundledTarget(relativePath: string): string {
  return relativePath
    .replace(/\.(?:tsx?|jsx)$/, '.js')
    .replace(/\.mts$/, '.mjs')
    .replace(/\.cts$/, '.cjs')
}

/**
 * esbuild names every output `.js`; an entry whose target has another extension is built under
 * a stand-in name (`x~cjs.js`) and written to its target.
 */
function esbuildOutName(target: string): string {
  return target.endsWith('.js') ? target.slice(0, -3) : target.replace(/\.([^./\\]+)$/, '~$1')
}

/** Whether the bundle's entry exports nothing (wrangler then uploads it as a service worker). */
function exportsNothing(metafile: esbuild.Metafile | undefined): boolean {
  const entry = Object.values(metafile?.outputs ?? {}).find((o) => o.entryPoint !== undefined)
  return entry !== undefined && entry.exports.length === 0
}

function writeInto(dir: string, name: string, contents: Uint8Array | string): void {
  const target = join(dir, name)
  mkdirSync(dirname(target), { recursive: true })
  writeFileSync(target, contents)
}

/** A CommonJS module's source as it is, or the ES module a Text, Data or CompiledWasm file is. */
function otherModuleContents(module: UnbundledModule): Uint8Array | string {
  let bytes: Buffer
  try {
    if (statSync(module.path).size > MAX_VALUE_MODULE_BYTES) {
      throw new WharfBuildError(`${module.path} is larger than 64 MiB`)
    }
    bytes = readFileSync(module.path)
  } catch (error) {
    if (error instanceof WharfBuildError) throw error
    throw new WharfBuildError(`cannot read ${module.path}: ${(error as Error).message}`)
  }
  return isValueModuleType(module.type) ? valueModuleSource(module.type, bytes) : bytes
}

/** The format Node must load a `no_bundle` module as where its extension would say otherwise. */
function nodeFormat({ type, target }: UnbundledModule): 'module' | 'commonjs' | undefined {
  if (type === 'CommonJS') return target.endsWith('.cjs') ? undefined : 'commonjs'
  if (type === 'ESModule') return /\.m?js$/.test(target) ? undefined : 'module'
  return 'module' // Text, Data and CompiledWasm are written as the ES modules they become
}

function options(
  settings: BuildSettings,
  outdir: string,
  modules: readonly UnbundledModule[]
): esbuild.BuildOptions {
  const rules = effectiveRules(settings.rules ?? [])
  const bundle = settings.noBundle !== true
  const entryPoints = bundle
    ? { [ENTRY_NAME]: settings.main }
    : modules
        .filter((m) => m.type === 'ESModule')
        .map((m) => ({ in: m.path, out: esbuildOutName(m.target) }))
  return {
    entryPoints,
    absWorkingDir: settings.root,
    bundle,
    outdir,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    // wrangler's resolution: exports conditions, then package.json fields.
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    resolveExtensions: ['.tsx', '.ts', '.jsx', '.js', '.mjs', '.cjs', '.mts', '.cts', '.json'],
    ...(bundle ? { outExtension: { '.js': '.mjs' } } : {}),
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: true,
    metafile: true,
    logLevel: 'silent',
    loader: { '.js': 'jsx', '.mjs': 'jsx', '.cjs': 'jsx' },
    // wrangler dev's replacement, which the config's `define` may override.
    define: { ...NODE_ENV_DEFINES, ...settings.define },
    ...(settings.tsconfig === undefined ? {} : { tsconfig: settings.tsconfig }),
    ...(settings.jsxFactory === undefined ? {} : { jsxFactory: settings.jsxFactory }),
    ...(settings.jsxFragment === undefined ? {} : { jsxFragment: settings.jsxFragment }),
    plugins: bundle
      ? [
          workerPlugin({
            flags: settings.compatibilityFlags,
            date: settings.compatibilityDate,
            rules,
            alias: settings.alias ?? {},
          }),
        ]
      : [],
  }
}

/**
 * Absolute paths of the files a build read, from esbuild's metafile: files relative to the root,
 * and the module-rule files the plugin loads (its namespace, then the absolute path). Stubs,
 * `require()` shims and the host's own modules (other namespaces, URLs) are not the user's files.
 */
export function bundleInputs(keys: readonly string[], root: string): string[] {
  const out: string[] = []
  for (const key of keys) {
    if (key.startsWith(`${RULE_NAMESPACE}:`)) out.push(key.slice(RULE_NAMESPACE.length + 1))
    else if (!key.includes(':')) out.push(join(root, key))
  }
  return out
}

/**
 * An incremental builder: `build()` (re)builds and writes a new version directory under one
 * temporary root; `dispose()` stops esbuild and removes every version.
 */
export class WorkerBuilder {
  private context: esbuild.BuildContext | undefined
  private modules: UnbundledModule[] | undefined
  private readonly outRoot: string
  private version = 0

  constructor(
    private readonly settings: BuildSettings,
    outRoot?: string
  ) {
    this.outRoot = outRoot ?? mkdtempSync(join(tmpdir(), 'wharf-build-'))
  }

  /** The directory every version directory is made in (a runtime may be given all of it). */
  get root(): string {
    return this.outRoot
  }

  async build(): Promise<WorkerBundle> {
    const started = performance.now()
    // Every version dir sits at the same depth as `build/`, so relative source-map paths hold.
    const outdir = join(this.outRoot, 'build')
    const unbundled = this.settings.noBundle === true
    let result: esbuild.BuildResult
    try {
      // A no_bundle Worker's modules are found once, with the context (as wrangler does at start).
      this.modules ??= unbundled ? unbundledModules(this.settings) : []
      this.context ??= await esbuild.context(options(this.settings, outdir, this.modules))
      result = await this.context.rebuild()
    } catch (error) {
      throw buildError(error)
    }
    const dir = join(this.outRoot, `v${++this.version}`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
    const renamed = new Map<string, string>(
      this.modules.map((m) => [`${esbuildOutName(m.target)}.js`, m.target])
    )
    for (const file of result.outputFiles ?? []) {
      const name = relative(outdir, file.path)
      writeInto(dir, renamed.get(name) ?? name, file.contents)
    }
    const formats: Record<string, 'module' | 'commonjs'> = {}
    const inputs = bundleInputs(Object.keys(result.metafile?.inputs ?? {}), this.settings.root)
    for (const module of this.modules) {
      const format = nodeFormat(module)
      if (format !== undefined) formats[join(dir, module.target)] = format
      if (module.type === 'ESModule') continue
      // CommonJS is written as it is (Node runs it, told its format); Text, Data and
      // CompiledWasm as the ES module each becomes.
      writeInto(dir, module.target, otherModuleContents(module))
      inputs.push(module.path)
    }
    // Older versions may still serve while they drain; keep the two before this one.
    if (this.version > 3) {
      rmSync(join(this.outRoot, `v${this.version - 3}`), { recursive: true, force: true })
    }
    // no_bundle: main's own target (the first module); bundled: the one output.
    const entry = join(dir, this.modules[0]?.target ?? `${ENTRY_NAME}.mjs`)
    return {
      dir,
      entry,
      inputs,
      warnings: result.warnings.length > 0 ? [formatMessages(result.warnings)] : [],
      ms: Math.round(performance.now() - started),
      unbundled,
      ...(Object.keys(formats).length > 0 ? { moduleFormats: formats } : {}),
      ...(!unbundled && exportsNothing(result.metafile) ? { serviceWorker: true } : {}),
    }
  }

  async dispose(): Promise<void> {
    await this.context?.dispose()
    this.context = undefined
    rmSync(this.outRoot, { recursive: true, force: true })
  }
}

/** One build, for callers that do not rebuild (e.g. `wharf serve`): the bundle and its cleanup. */
export async function buildWorker(
  settings: BuildSettings,
  outRoot?: string
): Promise<WorkerBundle & { dispose(): Promise<void> }> {
  const builder = new WorkerBuilder(settings, outRoot)
  try {
    const bundle = await builder.build()
    // The context is not needed after one build; the output stays until dispose().
    return { ...bundle, dispose: () => builder.dispose() }
  } catch (error) {
    await builder.dispose()
    throw error
  }
}
