/**
 * `wrangler dev` flags in a `wharf dev` command line (a project's `dev` script with `wrangler`
 * swapped for `wharf`). Those wharf has no use for are taken out, each with one warning line,
 * instead of failing as unknown; `--local` says what wharf always is and passes silently;
 * `--remote`, which needs Cloudflare, is refused, and so are the flags that change the build,
 * which wharf reads from the config (each error names the field).
 */
import { usageError } from './errors.js'

/** wrangler dev flags that take a value (`--flag VALUE` or `--flag=VALUE`), without effect here. */
const IGNORED_WITH_VALUE = new Set([
  'inspector-port',
  'inspector-ip',
  'persist-to',
  'log-level',
  'upstream-protocol',
  'host',
  'local-protocol',
  'https-key-path',
  'https-cert-path',
  'local-upstream',
  'routes',
  'route',
  'site',
  'container-engine',
])

/** wrangler dev flags without a value (or with `=true`/`=false`), without effect here. */
const IGNORED_SWITCHES = new Set([
  'show-interactive-dev-session',
  'live-reload',
  'test-scheduled',
  'node-compat',
  'enable-containers',
  'legacy-env',
  'metafile',
])

/** wrangler dev flags that change the build or the assets: wharf reads those from the config. */
const CONFIG_INSTEAD: Readonly<Record<string, string>> = {
  assets: 'assets.directory',
  tsconfig: 'tsconfig',
  'jsx-factory': 'jsx_factory',
  'jsx-fragment': 'jsx_fragment',
  'no-bundle': 'no_bundle',
  bundle: 'no_bundle',
  minify: 'minify',
  'compatibility-date': 'compatibility_date',
  'compatibility-flags': 'compatibility_flags',
  'compatibility-flag': 'compatibility_flags',
  name: 'name',
  define: 'define',
  alias: 'alias',
}

export interface WranglerFlags {
  /** The arguments left for wharf's own parser. */
  readonly argv: string[]
  /** One line per flag taken out. */
  readonly warnings: string[]
}

/** Takes wrangler-only flags out of `argv` (bounded: at most 1,000 arguments are looked at). */
export function takeWranglerFlags(argv: readonly string[]): WranglerFlags {
  if (argv.length > 1000) throw usageError('too many arguments')
  const out: string[] = []
  const warnings: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--') {
      out.push(...argv.slice(i))
      break
    }
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg)
    const name = match?.[1]
    if (name === undefined) {
      out.push(arg)
      continue
    }
    if (name === 'local') continue // wharf runs everything locally
    if (name === 'remote' && match?.[2] === 'false') continue // local, as wharf always is
    if (name === 'remote')
      throw usageError(
        '--remote runs the Worker on Cloudflare, which wharf does not do: wharf runs it here'
      )
    const field = Object.hasOwn(CONFIG_INSTEAD, name) ? CONFIG_INSTEAD[name] : undefined
    if (field !== undefined)
      throw usageError(`--${name}: wharf dev takes this from the config; set "${field}" there`)
    const experimental = name.startsWith('experimental-') || name.startsWith('x-')
    if (IGNORED_WITH_VALUE.has(name)) {
      // `--flag=VALUE`, or the next argument when it is not another flag.
      if (match?.[2] === undefined && i + 1 < argv.length && !argv[i + 1]?.startsWith('--')) i++
      warnings.push(`wrangler dev's --${name} has no effect in wharf dev: ignored`)
      continue
    }
    if (IGNORED_SWITCHES.has(name) || experimental) {
      warnings.push(`wrangler dev's --${name} has no effect in wharf dev: ignored`)
      continue
    }
    out.push(arg)
  }
  return { argv: out, warnings }
}
