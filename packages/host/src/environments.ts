/**
 * `--env NAME`: the config's `[env.NAME]` section over the top level, with wrangler's rules.
 * Inheritable keys fall back to the top level; non-inheritable ones (bindings, vars, define) come
 * only from the environment; `name` becomes `<name>-<env>` unless the environment sets it.
 */
import { configError } from './errors.js'

type Json = Record<string, unknown>

/** Keys an environment does not inherit from the top level (wrangler's list). */
export const NON_INHERITABLE = [
  'define',
  'vars',
  'secrets',
  'durable_objects',
  'workflows',
  'kv_namespaces',
  'r2_buckets',
  'd1_databases',
  'hyperdrive',
  'services',
  'queues',
  'analytics_engine_datasets',
  'vectorize',
  'ai',
  'browser',
  'images',
  'version_metadata',
  'send_email',
  'dispatch_namespaces',
  'mtls_certificates',
  'tail_consumers',
  'unsafe',
  'pipelines',
  'containers',
  'secrets_store_secrets',
  'unsafe_hello_world',
  'ratelimits',
  'worker_loaders',
  'vpc_services',
] as const

/** Keys that only exist at the top level. */
const TOP_LEVEL_ONLY = ['dev', 'migrations', 'site', 'keep_vars', 'send_metrics', 'wharf']

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The effective raw config for `env` (undefined: the top level, without its `env` table). */
export function selectEnvironment(raw: Json, file: string, env: string | undefined): Json {
  const { env: envs, ...top } = raw
  if (env === undefined) return top
  const available = isObject(envs) ? Object.keys(envs) : []
  const section = isObject(envs) ? envs[env] : undefined
  if (!isObject(section)) {
    throw configError(
      file,
      `--env ${env}: there is no [env.${env}] section (${available.length > 0 ? `environments: ${available.join(', ')}` : 'the config defines no environments'})`
    )
  }
  const out: Json = {}
  for (const [key, value] of Object.entries(top)) {
    if ((NON_INHERITABLE as readonly string[]).includes(key)) continue
    out[key] = value
  }
  for (const [key, value] of Object.entries(section)) {
    if (TOP_LEVEL_ONLY.includes(key)) {
      throw configError(file, `field "env.${env}.${key}" is only allowed at the top level`)
    }
    out[key] = value
  }
  if (section.name === undefined && typeof top.name === 'string') out.name = `${top.name}-${env}`
  return out
}
