/**
 * Reads the subset of wrangler's configuration the host uses (wrangler.json, wrangler.jsonc or
 * wrangler.toml, in wrangler's lookup order) and validates every field it reads. Unknown top-level
 * fields are ignored (wrangler has many the host does not need); unknown fields in the `wharf`
 * section are errors, since that section is ours.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser'
import { parse as parseToml } from 'smol-toml'
import { parseRule } from '@wharf/sockets/egress'
import { configError } from './errors.js'
import { parseVpc, type VpcConfig } from './vpc-config.js'
import { parseServices, type ServicesConfig } from './services/config.js'
import type { IsolationMode } from './isolation.js'
import type { SandboxMode } from './sandbox.js'
import { MODULE_TYPES, type ModuleRule, type ModuleType } from './bundle/rules.js'
import type { BuildSettings } from './bundle/index.js'
import { selectEnvironment } from './environments.js'
import { unsupportedBindings, type UnsupportedBinding } from './unsupported-bindings.js'
import { parseRateLimits, parseUnsafeRateLimits, type RateLimitBinding } from './rate-limits.js'
import { IDENTIFIER, isObject } from './config-values.js'

export const CONFIG_FILES = ['wrangler.json', 'wrangler.jsonc', 'wrangler.toml'] as const

export interface Limits {
  /** Sockets open at once per request; further connect() calls queue. Cloudflare: 6. */
  readonly socketsPerRequest: number
  /** How long a queued connect() may wait for a slot before failing. */
  readonly queueTimeoutMs: number
  /** Sockets open at once in the whole host. */
  readonly maxOpenSockets: number
  /** From admission to an open connection (TLS included). */
  readonly connectTimeoutMs: number
  /** How long `ctx.waitUntil` may extend a request after its response (Cloudflare: 30 s). */
  readonly waitUntilTimeoutMs: number
}

export const DEFAULT_LIMITS: Limits = {
  socketsPerRequest: 6,
  queueTimeoutMs: 30_000,
  maxOpenSockets: 1024,
  connectTimeoutMs: 10_000,
  waitUntilTimeoutMs: 30_000,
}

export interface EgressConfig {
  readonly allow: readonly string[]
  readonly deny: readonly string[]
  readonly strictMultiAnswer?: boolean
  readonly allowPort25?: boolean
}

/** Hyperdrive's per-config caching settings (its API's names), seconds. */
export interface HyperdriveCaching {
  readonly disabled: boolean
  readonly maxAge: number
  readonly staleWhileRevalidate: number
}

/** The dev default: Hyperdrive's own defaults (caching on, max_age 60 s, SWR 15 s). */
export const DEFAULT_HYPERDRIVE_CACHING: HyperdriveCaching = {
  disabled: false,
  maxAge: 60,
  staleWhileRevalidate: 15,
}

export interface HyperdriveBinding {
  readonly binding: string
  readonly id?: string
  readonly localConnectionString?: string
  /** From `wharf.hyperdrive.<BINDING>.caching`, else DEFAULT_HYPERDRIVE_CACHING. */
  readonly caching: HyperdriveCaching
  /**
   * `wharf.hyperdrive.<BINDING>.service_id`: a `tcp` service of `wharf.tunnels.services` that the
   * origin is reached through (Cloudflare's VPC-service origin). The connection string still gives
   * the user, password and database; its host and port are the service's.
   */
  readonly originService?: string
  /**
   * `wharf dev` with no connection string: the embedded PostgreSQL (`wharf.hyperdrive.<BINDING>
   * .embedded`), or false when that says `false` (then a missing connection string is an error).
   */
  readonly embedded: EmbeddedSettings | false
  /**
   * `wharf.hyperdrive.<BINDING>.cache_store`: a Redis store shared by every host's pooler of this
   * binding (the pooler's `cacheStore`), so several hosts share results and invalidations.
   */
  readonly cacheStore?: { readonly redis: string; readonly prefix?: string }
  /** `wharf.hyperdrive.<BINDING>.wal_invalidation`: the pooler's `walInvalidation`. */
  readonly walInvalidation?: { readonly publication: string; readonly maxLagMs?: number }
}

/** The embedded PostgreSQL of a binding (PGlite), absolute paths. */
export interface EmbeddedSettings {
  /** Where its data lives (default `.wharf/hyperdrive/<BINDING>` in the project). */
  readonly dataDir: string
  /** SQL run once, when the data directory is created. */
  readonly seed?: string
}

/** `assets` (Workers Static Assets). */
export interface AssetsConfig {
  /** Absolute path of the directory served. */
  readonly directory: string
  readonly binding?: string
  readonly htmlHandling:
    'auto-trailing-slash' | 'force-trailing-slash' | 'drop-trailing-slash' | 'none'
  readonly notFoundHandling: 'none' | '404-page' | 'single-page-application'
  /** true: every request reaches the Worker first; a list: only paths matching it (`!` excludes). */
  readonly runWorkerFirst: boolean | readonly string[]
}

/** A small loopback service the host runs for examples (documented as such). */
export interface ExampleService {
  readonly binding: string
  readonly kind: 'echo'
}

export interface WorkerConfig {
  /** Absolute path of the config file. */
  readonly file: string
  /** The `--env` in force, if any. */
  readonly env?: string
  /** Set when a build tool's `.wrangler/deploy/config.json` named the config in force. */
  readonly redirect?: ConfigRedirect
  /** Fields read but without effect in wharf (each gets one line at start). */
  readonly ignored: readonly string[]
  /** Bindings of products wharf does not provide: each `env.NAME` throws when used. */
  readonly unsupported: readonly UnsupportedBinding[]
  /** `ratelimits`: env.NAME.limit({ key }) counts in fixed windows, as wrangler dev does. */
  readonly rateLimits: readonly RateLimitBinding[]
  /** `version_metadata.binding`: env.NAME holds the running version's id, tag and timestamp. */
  readonly versionMetadata?: string
  readonly assets?: AssetsConfig
  readonly name?: string
  /** Absolute path of the Worker module. */
  readonly main: string
  readonly compatibilityDate?: string
  readonly compatibilityFlags: readonly string[]
  readonly vars: Readonly<Record<string, unknown>>
  readonly hyperdrive: readonly HyperdriveBinding[]
  readonly dev: { readonly ip?: string; readonly port?: number }
  readonly egress: EgressConfig
  readonly limits: Limits
  /** wrangler's `limits.subrequests`, when set: fetch() + connect() calls per request. */
  readonly subrequests?: number
  readonly exampleServices: readonly ExampleService[]
  /** How the runtime process is cut off from the network (see isolation.ts). */
  readonly isolation: IsolationMode
  /** What else the runtime process may touch (see sandbox.ts). */
  readonly sandbox: SandboxMode
  /** What the bundler reads: rules, define, alias, no_bundle, tsconfig, JSX. */
  readonly build: BuildSettings
  /** `vpc_networks`, `vpc_services` and `wharf.tunnels` (see vpc-config.ts). */
  readonly vpc: VpcConfig
  /** `services`, `wharf.outbound` and `wharf.tcp` (see services/config.ts). */
  readonly services: ServicesConfig
}

type Json = Record<string, unknown>

/** Finds the config in `dir` (or uses `file`), reads, parses, selects `env` and validates it. */
export function loadConfig(
  dir: string,
  file?: string,
  env?: string,
  script?: string
): WorkerConfig {
  const user =
    file !== undefined
      ? findConfig(dir, file)
      : script !== undefined
        ? findConfigUpwards(dirname(resolve(script)))
        : findUserConfig(dir)
  // wrangler follows a build tool's redirect only when no config file (or script) was named.
  const redirect = file === undefined && script === undefined ? findRedirect(dir, user) : undefined
  if (redirect !== undefined && env !== undefined) {
    // The build already chose the environment; the generated config has no [env] sections.
    throw configError(
      redirect.file,
      `--env ${env}: this config was generated by a build tool (named by ${DEPLOY_CONFIG}); choose the environment when building instead (CLOUDFLARE_ENV=${env} for @cloudflare/vite-plugin), as wrangler requires`
    )
  }
  const path = redirect?.file ?? user ?? findConfig(dir)
  const parsed = parseConfigFile(path)
  if (redirect !== undefined && isObject(parsed.env) && Object.keys(parsed.env).length > 0) {
    // wrangler's refusal: the tool that wrote it made the wrong config.
    const names = Object.keys(parsed.env)
      .slice(0, 50)
      .map((name) => `\t- ${name}`)
      .join('\n')
    throw configError(
      path,
      `Redirected configurations cannot include environments but the following have been found:\n${names}\n\nSuch configurations are generated by tools, meaning that one of the tools\nyour application is using is generating the incorrect configuration.\nReport this issue to the tool's author so that this can be fixed there.`
    )
  }
  let raw = selectEnvironment(parsed, basename(path), env)
  // `wharf dev SCRIPT`, like `wrangler dev SCRIPT`: the script (from the current directory) is main.
  if (script !== undefined) raw = { ...raw, main: resolve(script) }
  const config = validateConfig(raw, path, redirect === undefined ? undefined : resolve(dir))
  return {
    ...config,
    ...(env === undefined ? {} : { env }),
    ...(redirect === undefined ? {} : { redirect }),
  }
}

/** wrangler's `.wrangler/deploy/config.json`, written by build tools (@cloudflare/vite-plugin). */
export const DEPLOY_CONFIG = join('.wrangler', 'deploy', 'config.json')

/** A redirected config: the generated file in force, and what pointed at it. */
export interface ConfigRedirect {
  /** The generated config (absolute). */
  readonly file: string
  /** The deploy config that named it. */
  readonly deployConfig: string
  /** The user's own config, if there is one. */
  readonly userConfig?: string
}

const MAX_CONFIG_DEPTH = 64

/** wrangler's lookup for a script: its directory, then each parent, nearest first. */
function findConfigUpwards(start: string): string {
  for (let dir = start, depth = 0; depth < MAX_CONFIG_DEPTH; dir = dirname(dir), depth++) {
    const found = findUserConfig(dir)
    if (found !== undefined) return found
    if (dirname(dir) === dir) break
  }
  throw configError(
    start,
    `no ${CONFIG_FILES.join(', ')} found here or in a parent directory (pass --config FILE)`
  )
}

function findUserConfig(dir: string): string | undefined {
  const base = resolve(dir)
  if (!existsSync(base)) throw configError(base, 'directory not found')
  return CONFIG_FILES.map((name) => join(base, name)).find((path) => existsSync(path))
}

/**
 * The redirect in `dir`, as wrangler reads it: `{ "configPath": PATH }`, relative to the deploy
 * config. A deploy config that cannot be read or names no existing file is an error, not a silent
 * fallback to the user's config (which may lack what the build added, e.g. `assets.directory`).
 */
export function findRedirect(dir: string, userConfig?: string): ConfigRedirect | undefined {
  const deployConfig = join(resolve(dir), DEPLOY_CONFIG)
  if (!existsSync(deployConfig)) return undefined
  const raw = parseConfigFile(deployConfig)
  if (typeof raw.configPath !== 'string' || raw.configPath === '') {
    throw configError(deployConfig, 'has no "configPath" (the generated config it redirects to)')
  }
  const file = resolve(dirname(deployConfig), raw.configPath)
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw configError(
      deployConfig,
      `redirects to ${file}, which does not exist (run the build again, or delete ${DEPLOY_CONFIG})`
    )
  }
  return { file, deployConfig, ...(userConfig === undefined ? {} : { userConfig }) }
}

/** Top-level fields wharf reads and acts on. */
const USED_FIELDS = new Set([
  '$schema',
  'version_metadata',
  'ratelimits',
  'vpc_networks',
  'vpc_services',
  'services',
  'dispatch_namespaces',
  'name',
  'main',
  'compatibility_date',
  'compatibility_flags',
  'vars',
  'hyperdrive',
  'dev',
  'wharf',
  'limits',
  'assets',
  'rules',
  'define',
  'alias',
  'no_bundle',
  'find_additional_modules',
  'base_dir',
  'tsconfig',
  'jsx_factory',
  'jsx_fragment',
])

/**
 * Fields wrangler writes into a generated (redirected) config to say where it came from; they
 * configure nothing.
 */
const REDIRECT_FIELDS = new Set([
  'configPath',
  'userConfigPath',
  'topLevelName',
  'definedEnvironments',
])

/**
 * Values wrangler's normalisation writes into every generated config (e.g. @cloudflare/vite-
 * plugin's build output): equal to the default, they configure nothing and get no line.
 */
const WRANGLER_DEFAULTS: Readonly<Record<string, unknown>> = {
  python_modules: { exclude: ['**/*.pyc'] },
  'dev.local_protocol': 'http',
  'dev.upstream_protocol': 'http',
  'dev.enable_containers': true,
  'dev.generate_types': false,
}

export function findConfig(dir: string, file?: string): string {
  if (file !== undefined) {
    const path = resolve(file)
    if (!existsSync(path)) throw configError(path, 'config file not found')
    return path
  }
  const base = resolve(dir)
  if (!existsSync(base)) throw configError(base, 'directory not found')
  for (const name of CONFIG_FILES) {
    const path = join(base, name)
    if (existsSync(path)) return path
  }
  throw configError(base, `no ${CONFIG_FILES.join(', ')} found (pass --config FILE)`)
}

export function parseConfigFile(path: string): Json {
  let text: string
  try {
    if (statSync(path).size > 1_000_000) throw new Error('larger than 1 MB')
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw configError(path, `cannot read: ${(error as Error).message}`)
  }
  let value: unknown
  if (path.endsWith('.toml')) {
    try {
      value = parseToml(text)
    } catch (error) {
      throw configError(path, `invalid TOML: ${(error as Error).message.split('\n')[0] ?? ''}`)
    }
  } else {
    const errors: ParseError[] = []
    value = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false })
    const first = errors[0]
    if (first !== undefined) {
      const { line, column } = position(text, first.offset)
      throw configError(
        path,
        `invalid JSON at line ${line}, column ${column}: ${printParseErrorCode(first.error)}`
      )
    }
  }
  if (!isObject(value)) throw configError(path, 'the top level must be an object')
  return value
}

/** The not-found message for `main`, with the fix when the path names a file from here. */
function missingMain(main: string, field: string): string {
  const text = `names a file that does not exist: ${main} (main is resolved against the config's directory, as wrangler does)`
  const fromHere = resolve(field)
  if (fromHere === main || !existsSync(fromHere) || !statSync(fromHere).isFile()) return text
  const rel = relative(process.cwd(), fromHere)
  return `${text}; "${rel}" exists from the current directory: run \`wharf dev ${rel}\` to use it as main, as \`wrangler dev ${rel}\` would`
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n')
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 }
}

/** Validates the fields the host reads; every error names the file and the field. */
export function validateConfig(raw: Json, file: string, projectDir?: string): WorkerConfig {
  const fail = (field: string, message: string): never => {
    throw configError(basename(file), `field "${field}" ${message}`)
  }
  const str = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'string' || value === '') return fail(field, 'must be a non-empty string')
    return value
  }
  const strList = (value: unknown, field: string): string[] => {
    if (value === undefined) return []
    if (!Array.isArray(value)) return fail(field, 'must be an array of strings')
    if (value.length > 10_000) return fail(field, 'has more than 10000 entries')
    return value.map((v, i) => str(v, `${field}[${i}]`) ?? fail(`${field}[${i}]`, 'is missing'))
  }
  const int = (value: unknown, field: string, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return fail(field, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`)
    }
    return value
  }
  const bool = (value: unknown, field: string): boolean | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'boolean') return fail(field, 'must be true or false')
    return value
  }
  const only = (value: Json, field: string, keys: readonly string[]): void => {
    for (const key of Object.keys(value)) {
      if (!keys.includes(key))
        fail(`${field}.${key}`, `is not a known field (known: ${keys.join(', ')})`)
    }
  }

  const mainField =
    str(raw.main, 'main') ?? fail('main', 'is required (the Worker module, e.g. "src/index.ts")')
  // Against the config's directory, as wrangler resolves it (not the current directory).
  const main = resolve(dirname(file), mainField)
  if (!existsSync(main) || !statSync(main).isFile()) fail('main', missingMain(main, mainField))

  const compatibilityDate = str(raw.compatibility_date, 'compatibility_date')
  if (compatibilityDate !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(compatibilityDate)) {
    fail('compatibility_date', `must be a date like "2026-11-01" (got "${compatibilityDate}")`)
  }

  let vars: Record<string, unknown> = {}
  if (raw.vars !== undefined) {
    if (!isObject(raw.vars)) fail('vars', 'must be an object of names to values')
    else {
      for (const key of Object.keys(raw.vars)) {
        if (!IDENTIFIER.test(key)) fail(`vars.${key}`, 'is not a valid binding name')
      }
      vars = { ...raw.vars }
    }
  }

  const hyperdrive: HyperdriveBinding[] = []
  if (raw.hyperdrive !== undefined) {
    if (!Array.isArray(raw.hyperdrive)) fail('hyperdrive', 'must be an array of bindings')
    else {
      raw.hyperdrive.forEach((entry: unknown, i) => {
        const field = `hyperdrive[${i}]`
        if (!isObject(entry)) return fail(field, 'must be an object')
        const binding =
          str(entry.binding, `${field}.binding`) ?? fail(`${field}.binding`, 'is required')
        if (!IDENTIFIER.test(binding)) fail(`${field}.binding`, 'is not a valid binding name')
        const id = str(entry.id, `${field}.id`)
        const local = str(entry.localConnectionString, `${field}.localConnectionString`)
        if (local !== undefined && !/^(postgres(ql)?|mysql):\/\//.test(local)) {
          fail(
            `${field}.localConnectionString`,
            'must be a postgres://, postgresql:// or mysql:// URL'
          )
        }
        hyperdrive.push({
          binding,
          ...(id === undefined ? {} : { id }),
          ...(local === undefined ? {} : { localConnectionString: local }),
          caching: DEFAULT_HYPERDRIVE_CACHING,
          // A redirected config lives in build output, which the next build wipes.
          embedded: {
            dataDir: resolve(projectDir ?? dirname(file), '.wharf', 'hyperdrive', binding),
          },
        })
      })
    }
  }

  // Empty sections (wrangler's generated configs list every one) configure nothing: no line.
  const configures = (value: unknown): boolean =>
    value !== undefined &&
    !(Array.isArray(value) && value.length === 0) &&
    !(isObject(value) && Object.values(value).every((v) => !configures(v)))
  const isDefault = (field: string, value: unknown): boolean =>
    field in WRANGLER_DEFAULTS && JSON.stringify(WRANGLER_DEFAULTS[field]) === JSON.stringify(value)
  // Their fields get a line per binding instead (unsupportedWarning), not the generic one.
  const unsupported = unsupportedBindings(raw)
  const unsupportedFields = new Set(unsupported.map((b) => b.field))
  // `unsafe` is read for its ratelimit bindings; anything else in it is ignored (one line).
  const unsafe = parseUnsafeRateLimits(raw.unsafe, fail)
  const ignored = Object.keys(raw).filter(
    (key) =>
      !USED_FIELDS.has(key) &&
      !(key === 'unsafe' && !unsafe.rest) &&
      !unsupportedFields.has(key) &&
      !REDIRECT_FIELDS.has(key) &&
      configures(raw[key]) &&
      !isDefault(key, raw[key])
  )
  // limits.subrequests holds under dev too; the other limits are serve's (serve/settings.ts).
  let subrequests: number | undefined
  if (isObject(raw.limits)) {
    subrequests = int(raw.limits.subrequests, 'limits.subrequests', 1, 10_000_000)
    for (const key of Object.keys(raw.limits)) {
      if (key !== 'subrequests') ignored.push(`limits.${key}`)
    }
  } else if (raw.limits !== undefined) fail('limits', 'must be an object')
  const dev: { ip?: string; port?: number } = {}
  if (raw.dev !== undefined) {
    if (!isObject(raw.dev)) fail('dev', 'must be an object')
    else {
      for (const [key, value] of Object.entries(raw.dev)) {
        if (key !== 'ip' && key !== 'port' && !isDefault(`dev.${key}`, value)) {
          ignored.push(`dev.${key}`)
        }
      }
      const ip = str(raw.dev.ip, 'dev.ip')
      const port = int(raw.dev.port, 'dev.port', 0, 65535)
      if (ip !== undefined) dev.ip = ip
      if (port !== undefined) dev.port = port
    }
  }

  let egress: EgressConfig = { allow: [], deny: [] }
  let limits: Limits = DEFAULT_LIMITS
  const exampleServices: ExampleService[] = []
  let isolation: IsolationMode = 'auto'
  let sandbox: SandboxMode = 'auto'
  if (raw.wharf !== undefined) {
    const wharf = raw.wharf
    if (!isObject(wharf)) return fail('wharf', 'must be an object')
    only(wharf, 'wharf', [
      'egress',
      'limits',
      'example_services',
      'isolation',
      'hyperdrive',
      'sandbox',
      'tunnels',
      'serve',
      'outbound',
      'dispatch_namespace',
      'tcp',
    ])
    // `embedded`: false, or { data_dir, seed } (paths relative to the project).
    const embeddedSettings = (value: unknown, field: string): EmbeddedSettings | false => {
      if (value === false) return false
      if (!isObject(value)) return fail(`${field}.embedded`, 'must be false or an object')
      only(value, `${field}.embedded`, ['data_dir', 'seed'])
      const name = field.slice('wharf.hyperdrive.'.length)
      // Both stay inside the project: the host writes the one and reads the other.
      const inside = (path: string | undefined, key: string): string | undefined => {
        if (path === undefined) return undefined
        const full = resolve(dirname(file), path)
        const rel = relative(dirname(file), full)
        if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
          fail(`${field}.embedded.${key}`, 'must name a path inside the project directory')
        }
        return full
      }
      const dataDir = inside(str(value.data_dir, `${field}.embedded.data_dir`), 'data_dir')
      const seed = inside(str(value.seed, `${field}.embedded.seed`), 'seed')
      return {
        dataDir: dataDir ?? resolve(projectDir ?? dirname(file), '.wharf', 'hyperdrive', name),
        ...(seed === undefined ? {} : { seed }),
      }
    }
    if (wharf.hyperdrive !== undefined) {
      const section = wharf.hyperdrive
      if (!isObject(section)) return fail('wharf.hyperdrive', 'must be an object of bindings')
      for (const [name, entry] of Object.entries(section)) {
        const field = `wharf.hyperdrive.${name}`
        const i = hyperdrive.findIndex((h) => h.binding === name)
        const target = hyperdrive[i]
        if (target === undefined) fail(field, 'names no hyperdrive binding of this config')
        if (!isObject(entry)) return fail(field, 'must be an object')
        only(entry, field, ['caching', 'embedded', 'service_id', 'cache_store', 'wal_invalidation'])
        if (entry.cache_store !== undefined) {
          const c = entry.cache_store
          if (!isObject(c)) return fail(`${field}.cache_store`, 'must be an object')
          only(c, `${field}.cache_store`, ['redis', 'prefix'])
          const redis =
            str(c.redis, `${field}.cache_store.redis`) ??
            fail(`${field}.cache_store.redis`, 'is required (a redis:// URL)')
          if (!/^redis:\/\/\S+$/.test(redis))
            fail(`${field}.cache_store.redis`, 'must be a redis:// URL')
          const prefix = str(c.prefix, `${field}.cache_store.prefix`)
          if (prefix !== undefined && (prefix.length > 200 || /[\s]/.test(prefix)))
            fail(`${field}.cache_store.prefix`, 'must be at most 200 characters, without spaces')
          const current = hyperdrive[i]
          if (current !== undefined)
            hyperdrive[i] = {
              ...current,
              cacheStore: { redis, ...(prefix === undefined ? {} : { prefix }) },
            }
        }
        if (entry.wal_invalidation !== undefined) {
          const w = entry.wal_invalidation
          if (!isObject(w)) return fail(`${field}.wal_invalidation`, 'must be an object')
          only(w, `${field}.wal_invalidation`, ['publication', 'max_lag_ms'])
          const publication =
            str(w.publication, `${field}.wal_invalidation.publication`) ??
            fail(`${field}.wal_invalidation.publication`, 'is required (a publication name)')
          if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(publication))
            fail(`${field}.wal_invalidation.publication`, 'must be a plain PostgreSQL identifier')
          const maxLagMs = int(w.max_lag_ms, `${field}.wal_invalidation.max_lag_ms`, 10, 600_000)
          const current = hyperdrive[i]
          if (current !== undefined)
            hyperdrive[i] = {
              ...current,
              walInvalidation: { publication, ...(maxLagMs === undefined ? {} : { maxLagMs }) },
            }
        }
        if (target !== undefined && entry.embedded !== undefined) {
          hyperdrive[i] = { ...target, embedded: embeddedSettings(entry.embedded, field) }
        }
        if (entry.service_id !== undefined) {
          // Cloudflare's VPC-service origin: the origin is reached through a tunnel.
          if (typeof entry.service_id !== 'string' || entry.service_id === '')
            fail(`${field}.service_id`, 'must name a tcp service of wharf.tunnels.services')
          const current = hyperdrive[i]
          if (current !== undefined)
            hyperdrive[i] = { ...current, originService: entry.service_id as string }
        }
        const c = entry.caching
        if (c === undefined) continue
        if (!isObject(c)) return fail(`${field}.caching`, 'must be an object')
        only(c, `${field}.caching`, ['disabled', 'max_age', 'stale_while_revalidate'])
        const caching: HyperdriveCaching = {
          disabled: bool(c.disabled, `${field}.caching.disabled`) ?? false,
          maxAge:
            int(c.max_age, `${field}.caching.max_age`, 0, 3600) ??
            DEFAULT_HYPERDRIVE_CACHING.maxAge,
          staleWhileRevalidate:
            int(c.stale_while_revalidate, `${field}.caching.stale_while_revalidate`, 0, 3600) ??
            DEFAULT_HYPERDRIVE_CACHING.staleWhileRevalidate,
        }
        const current = hyperdrive[i]
        if (current !== undefined) hyperdrive[i] = { ...current, caching }
      }
    }
    if (wharf.sandbox !== undefined) {
      if (wharf.sandbox !== 'auto' && wharf.sandbox !== 'strict' && wharf.sandbox !== 'off') {
        return fail('wharf.sandbox', 'must be "auto", "strict" or "off"')
      }
      sandbox = wharf.sandbox
    }
    if (wharf.isolation !== undefined) {
      if (wharf.isolation !== 'auto' && wharf.isolation !== 'netns' && wharf.isolation !== 'none') {
        return fail('wharf.isolation', 'must be "auto", "netns" or "none"')
      }
      isolation = wharf.isolation
    }
    if (wharf.egress !== undefined) {
      const e = wharf.egress
      if (!isObject(e)) return fail('wharf.egress', 'must be an object')
      only(e, 'wharf.egress', ['allow', 'deny', 'strictMultiAnswer', 'allowPort25'])
      const strict = bool(e.strictMultiAnswer, 'wharf.egress.strictMultiAnswer')
      const port25 = bool(e.allowPort25, 'wharf.egress.allowPort25')
      const allow = strList(e.allow, 'wharf.egress.allow')
      const deny = strList(e.deny, 'wharf.egress.deny')
      for (const [effect, list] of [
        ['allow', allow],
        ['deny', deny],
      ] as const) {
        for (const rule of list) {
          try {
            parseRule(effect, rule)
          } catch (error) {
            return fail(`wharf.egress.${effect}`, (error as Error).message)
          }
        }
      }
      egress = {
        allow,
        deny,
        ...(strict === undefined ? {} : { strictMultiAnswer: strict }),
        ...(port25 === undefined ? {} : { allowPort25: port25 }),
      }
    }
    if (wharf.limits !== undefined) {
      const l = wharf.limits
      if (!isObject(l)) return fail('wharf.limits', 'must be an object')
      only(l, 'wharf.limits', Object.keys(DEFAULT_LIMITS))
      const day = 86_400_000
      limits = {
        socketsPerRequest:
          int(l.socketsPerRequest, 'wharf.limits.socketsPerRequest', 1, 1000) ??
          DEFAULT_LIMITS.socketsPerRequest,
        queueTimeoutMs:
          int(l.queueTimeoutMs, 'wharf.limits.queueTimeoutMs', 1, day) ??
          DEFAULT_LIMITS.queueTimeoutMs,
        maxOpenSockets:
          int(l.maxOpenSockets, 'wharf.limits.maxOpenSockets', 1, 1_000_000) ??
          DEFAULT_LIMITS.maxOpenSockets,
        connectTimeoutMs:
          int(l.connectTimeoutMs, 'wharf.limits.connectTimeoutMs', 1, day) ??
          DEFAULT_LIMITS.connectTimeoutMs,
        waitUntilTimeoutMs:
          int(l.waitUntilTimeoutMs, 'wharf.limits.waitUntilTimeoutMs', 1, day) ??
          DEFAULT_LIMITS.waitUntilTimeoutMs,
      }
    }
    if (wharf.example_services !== undefined) {
      const list = wharf.example_services
      if (!Array.isArray(list)) return fail('wharf.example_services', 'must be an array')
      list.forEach((entry: unknown, i) => {
        const field = `wharf.example_services[${i}]`
        if (!isObject(entry)) return fail(field, 'must be an object')
        only(entry, field, ['binding', 'kind'])
        const binding =
          str(entry.binding, `${field}.binding`) ?? fail(`${field}.binding`, 'is required')
        if (!IDENTIFIER.test(binding)) fail(`${field}.binding`, 'is not a valid binding name')
        if (entry.kind !== 'echo') fail(`${field}.kind`, 'must be "echo"')
        exampleServices.push({ binding, kind: 'echo' })
      })
    }
  }

  const build = validateBuild(raw, file, main, fail, str, bool)
  const assets = validateAssets(raw.assets, dirname(file), fail, str)
  let versionMetadata: string | undefined
  const metadata = raw.version_metadata
  if (metadata !== undefined) {
    const binding = isObject(metadata)
      ? str(metadata.binding, 'version_metadata.binding')
      : fail('version_metadata', 'must be an object')
    if (binding === undefined || !IDENTIFIER.test(binding))
      fail('version_metadata.binding', 'is not a valid binding name')
    versionMetadata = binding
  }
  const name = str(raw.name, 'name')
  const vpc = parseVpc(raw, isObject(raw.wharf) ? raw.wharf : undefined, file)
  for (const h of hyperdrive) {
    if (h.originService === undefined) continue
    const service = vpc.tunnels?.services.find((d) => d.id === h.originService)
    if (service?.type !== 'tcp')
      fail(
        `wharf.hyperdrive.${h.binding}.service_id`,
        `names no tcp service of wharf.tunnels.services ("${h.originService}")`
      )
  }
  return {
    file,
    ignored,
    unsupported,
    rateLimits: [...parseRateLimits(raw.ratelimits, fail), ...unsafe.rateLimits],
    ...(versionMetadata === undefined ? {} : { versionMetadata }),
    ...(assets === undefined ? {} : { assets }),
    ...(name === undefined ? {} : { name }),
    main,
    ...(compatibilityDate === undefined ? {} : { compatibilityDate }),
    compatibilityFlags: strList(raw.compatibility_flags, 'compatibility_flags'),
    vars,
    hyperdrive,
    dev,
    egress,
    limits,
    ...(subrequests === undefined ? {} : { subrequests }),
    exampleServices,
    isolation,
    sandbox,
    build: {
      ...build,
      compatibilityFlags: strList(raw.compatibility_flags, 'compatibility_flags'),
      ...(compatibilityDate === undefined ? {} : { compatibilityDate }),
    },
    vpc,
    services: parseServices(raw, isObject(raw.wharf) ? raw.wharf : undefined, file),
  }
}

type Fail = (field: string, message: string) => never

const HTML_HANDLING = [
  'auto-trailing-slash',
  'force-trailing-slash',
  'drop-trailing-slash',
  'none',
] as const
const NOT_FOUND_HANDLING = ['none', '404-page', 'single-page-application'] as const

function validateAssets(
  value: unknown,
  root: string,
  fail: Fail,
  str: (value: unknown, field: string) => string | undefined
): AssetsConfig | undefined {
  if (value === undefined) return undefined
  if (!isObject(value)) return fail('assets', 'must be an object')
  for (const key of Object.keys(value)) {
    if (
      !['directory', 'binding', 'html_handling', 'not_found_handling', 'run_worker_first'].includes(
        key
      )
    ) {
      fail(`assets.${key}`, 'is not a known field')
    }
  }
  const dirField =
    str(value.directory, 'assets.directory') ??
    fail(
      'assets.directory',
      'is required (a build tool such as @cloudflare/vite-plugin may provide it to wrangler; wharf needs the built directory named in the config)'
    )
  const directory = resolve(root, dirField)
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    fail('assets.directory', `names a directory that does not exist: ${directory}`)
  }
  const binding = str(value.binding, 'assets.binding')
  if (binding !== undefined && !IDENTIFIER.test(binding))
    fail('assets.binding', 'is not a valid binding name')
  const oneOf = <T extends string>(v: unknown, field: string, list: readonly T[], d: T): T => {
    if (v === undefined) return d
    if (typeof v !== 'string' || !(list as readonly string[]).includes(v)) {
      return fail(field, `must be one of ${list.map((x) => `"${x}"`).join(', ')}`)
    }
    return v as T
  }
  let runWorkerFirst: boolean | string[] = false
  const rwf = value.run_worker_first
  if (typeof rwf === 'boolean') runWorkerFirst = rwf
  else if (Array.isArray(rwf)) {
    if (rwf.length > 1000) fail('assets.run_worker_first', 'has more than 1000 patterns')
    runWorkerFirst = rwf.map((p: unknown, i) => {
      if (typeof p !== 'string' || !/^!?\//.test(p)) {
        return fail(`assets.run_worker_first[${i}]`, 'must be a path pattern starting with / or !/')
      }
      return p
    })
  } else if (rwf !== undefined)
    fail('assets.run_worker_first', 'must be true, false or a list of path patterns')
  return {
    directory,
    ...(binding === undefined ? {} : { binding }),
    htmlHandling: oneOf(
      value.html_handling,
      'assets.html_handling',
      HTML_HANDLING,
      'auto-trailing-slash'
    ),
    notFoundHandling: oneOf(
      value.not_found_handling,
      'assets.not_found_handling',
      NOT_FOUND_HANDLING,
      'none'
    ),
    runWorkerFirst,
  }
}

/** wrangler's build fields: rules, define, alias, no_bundle, find_additional_modules, base_dir… */
function validateBuild(
  raw: Json,
  file: string,
  main: string,
  fail: Fail,
  str: (value: unknown, field: string) => string | undefined,
  bool: (value: unknown, field: string) => boolean | undefined
): Omit<BuildSettings, 'compatibilityFlags'> {
  const root = dirname(file)
  const rules: ModuleRule[] = []
  if (raw.rules !== undefined) {
    if (!Array.isArray(raw.rules)) fail('rules', 'must be an array of { type, globs }')
    ;(raw.rules as unknown[]).slice(0, 1000).forEach((entry, i) => {
      const field = `rules[${i}]`
      if (!isObject(entry)) return fail(field, 'must be an object')
      if (!MODULE_TYPES.includes(entry.type as ModuleType)) {
        return fail(`${field}.type`, `must be one of ${MODULE_TYPES.join(', ')}`)
      }
      if (!Array.isArray(entry.globs) || entry.globs.length > 1000) {
        return fail(`${field}.globs`, 'must be an array of glob strings')
      }
      const globs = entry.globs.map(
        (g: unknown, j) =>
          str(g, `${field}.globs[${j}]`) ?? fail(`${field}.globs[${j}]`, 'is missing')
      )
      const fallthrough = bool(entry.fallthrough, `${field}.fallthrough`)
      rules.push({
        type: entry.type as ModuleType,
        globs,
        ...(fallthrough === undefined ? {} : { fallthrough }),
      })
    })
  }
  const stringMap = (value: unknown, field: string): Record<string, string> | undefined => {
    if (value === undefined) return undefined
    if (!isObject(value)) return fail(field, 'must be an object of strings')
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(value).slice(0, 10_000)) {
      out[k] = typeof v === 'string' ? v : fail(`${field}.${k}`, 'must be a string')
    }
    return out
  }
  const define = stringMap(raw.define, 'define')
  const alias = stringMap(raw.alias, 'alias')
  const noBundle = bool(raw.no_bundle, 'no_bundle')
  const findAdditional = bool(raw.find_additional_modules, 'find_additional_modules')
  const baseDirField = str(raw.base_dir, 'base_dir')
  const baseDir = baseDirField === undefined ? dirname(main) : resolve(root, baseDirField)
  const tsconfigField = str(raw.tsconfig, 'tsconfig')
  if (tsconfigField !== undefined && !existsSync(resolve(root, tsconfigField))) {
    fail('tsconfig', `names a file that does not exist: ${resolve(root, tsconfigField)}`)
  }
  const jsxFactory = str(raw.jsx_factory, 'jsx_factory')
  const jsxFragment = str(raw.jsx_fragment, 'jsx_fragment')
  return {
    main,
    root,
    rules,
    ...(define === undefined ? {} : { define }),
    ...(alias === undefined ? {} : { alias }),
    ...(noBundle === true ? { noBundle } : {}),
    // wrangler finds them by default under no_bundle (the build's chunks are such modules).
    ...((findAdditional ?? noBundle === true) ? { findAdditionalModules: true } : {}),
    baseDir,
    ...(tsconfigField === undefined ? {} : { tsconfig: resolve(root, tsconfigField) }),
    ...(jsxFactory === undefined ? {} : { jsxFactory }),
    ...(jsxFragment === undefined ? {} : { jsxFragment }),
  }
}
