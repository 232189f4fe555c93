/**
 * What workerd 1.20261117.1 (the pinned oracle) gives a Worker of `process` and of the built-ins
 * it stubs out, by compatibility date and flags. Every date here was found by running workerd
 * itself at the dates either side (see docs/host.md, "What the Worker sees").
 */
export interface CompatInput {
  readonly compatibilityDate?: string | undefined
  readonly compatibilityFlags?: readonly string[] | undefined
}

/** From this date workerd turns nodejs_compat on without the flag. */
const NODEJS_COMPAT_BY_DEFAULT = '2026-08-04'
/** nodejs_compat_populate_process_env's default-on date. */
const POPULATE_PROCESS_ENV = '2025-04-01'
/** The full `process` (binding, dlopen, kill … that throw) and `node:fs`. */
const PROCESS_V2 = '2025-09-15'

/** The first date each stubbed built-in exists under nodejs_compat (before it: no such module). */
export const STUBBED_MODULES: Readonly<Record<string, string>> = {
  child_process: '2026-03-17',
  cluster: '2025-12-04',
  worker_threads: '2026-03-17',
  vm: '2025-10-01',
  inspector: '2026-01-29',
}

export interface Compat {
  readonly nodejsCompat: boolean
  readonly populateEnv: boolean
  readonly processV2: boolean
  /** workerd's virtual `node:fs` (false: importing node:fs fails with "No such module"). */
  readonly fs: boolean
  /** The stubbed built-ins and whether each exists at this date (false: importing it fails). */
  readonly modules: Readonly<Record<string, boolean>>
}

export function compatOf(input: CompatInput): Compat {
  // No date: the earliest behaviour (wrangler requires one; workerd refuses to start without).
  const date = input.compatibilityDate ?? '0000-00-00'
  const flags = new Set(input.compatibilityFlags ?? [])
  const nodejsCompat =
    !flags.has('no_nodejs_compat') &&
    (flags.has('nodejs_compat') ||
      flags.has('nodejs_compat_v2') ||
      date >= NODEJS_COMPAT_BY_DEFAULT)
  const populateEnv =
    nodejsCompat &&
    !flags.has('nodejs_compat_do_not_populate_process_env') &&
    (flags.has('nodejs_compat_populate_process_env') || date >= POPULATE_PROCESS_ENV)
  const modules: Record<string, boolean> = {}
  for (const [name, since] of Object.entries(STUBBED_MODULES)) modules[name] = date >= since
  // node:fs arrives with the full process (2025-09-15, not 2025-09-01: found in workerd).
  const fs =
    nodejsCompat &&
    !flags.has('disable_nodejs_fs_module') &&
    (flags.has('enable_nodejs_fs_module') || date >= PROCESS_V2)
  return { nodejsCompat, populateEnv, processV2: nodejsCompat && date >= PROCESS_V2, fs, modules }
}

/** `process.env` as workerd fills it: text vars and secrets as they are, JSON vars as JSON. */
export function processEnvOf(
  compat: Compat,
  vars: Readonly<Record<string, unknown>>
): Record<string, string> {
  const env: Record<string, string> = {}
  if (!compat.populateEnv) return env
  for (const [name, value] of Object.entries(vars)) {
    env[name] = typeof value === 'string' ? value : JSON.stringify(value)
  }
  return env
}
