/**
 * `wharf serve`'s settings: wrangler's `limits` (`cpu_ms`, `subrequests`), the host's
 * `wharf.serve` section (memory, start-up, processes, drain and queue bounds), and `--env NAME`
 * (wrangler's environments: `env.NAME` overrides the top level; `vars` and `hyperdrive` are not
 * inherited). Every error names the file and the field.
 */
import { availableParallelism } from 'node:os'
import { basename } from 'node:path'
import { findConfig, parseConfigFile, validateConfig, type WorkerConfig } from '../config.js'
import { configError, usageError } from '../errors.js'
import { parseRedisUrl } from '@wharf/pool/redis'
import type { SharedSocketSettings } from './shared-sockets.js'

export interface ServeSettings {
  /** wrangler's `limits.cpu_ms`: Error 1102 past it. Cloudflare's default: 30 s. */
  readonly cpuMs: number
  /** wrangler's `limits.subrequests`: fetch() + connect() per request. Cloudflare: 10,000. */
  readonly subrequests: number
  /** Memory per runtime process for the Worker (Cloudflare's isolate: 128 MB). */
  readonly memoryMb: number
  /** CPU the global scope may take (Cloudflare: 1 s, error 10021). */
  readonly startupMs: number
  /** Runtime processes (default: one per core). */
  readonly processes: number
  /** How long a draining version's requests (and their sockets) may take to finish. */
  readonly drainMs: number
  /** How long a connection may wait for a runtime (all busy or restarting): then a 503. */
  readonly connectionQueueMs: number
  /** Connections waiting for a runtime, at most. */
  readonly maxQueuedConnections: number
  /** The Worker's socket limit across the hosts sharing one Redis (serve/shared-sockets.ts). */
  readonly sharedSockets?: SharedSocketSettings
}

/** Overrides `wharf.serve.shared_sockets.redis`, so a password need not sit in the config. */
export const SHARED_SOCKETS_REDIS_ENV = 'WHARF_SERVE_SHARED_SOCKETS_REDIS'

export const SERVE_DEFAULTS: Omit<ServeSettings, 'processes'> = {
  cpuMs: 30_000,
  subrequests: 10_000,
  memoryMb: 128,
  startupMs: 1000,
  drainMs: 30_000,
  connectionQueueMs: 10_000,
  maxQueuedConnections: 4096,
}

const SERVE_FIELDS = [
  'memory_mb',
  'startup_ms',
  'processes',
  'drain_ms',
  'connection_queue_ms',
  'max_queued_connections',
  'shared_sockets',
] as const

const SHARED_SOCKETS_FIELDS = ['redis', 'max_open', 'prefix', 'on_unavailable']

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** `--processes N|auto`, or the config's `wharf.serve.processes`. */
export function parseProcesses(
  value: string | number,
  field: string,
  fail: (m: string) => never
): number {
  if (value === 'auto') return Math.max(1, availableParallelism())
  const n = typeof value === 'number' ? value : /^\d{1,3}$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    return fail(
      `${field} must be "auto" or an integer from 1 to 256 (got ${JSON.stringify(value)})`
    )
  }
  return n
}

/** Applies `env.NAME` over the top level, as wrangler does for the fields the host reads. */
export function applyEnvironment(raw: Json, file: string, env: string | undefined): Json {
  if (env === undefined) return raw
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(env))
    throw usageError(`--env: "${env}" is not an environment name`)
  const envs = raw.env
  const section = isObject(envs) ? envs[env] : undefined
  if (!isObject(section)) {
    throw configError(basename(file), `field "env.${env}" is not defined (--env ${env})`)
  }
  const merged: Json = { ...raw, ...section }
  delete merged.env
  // Bindings are not inherited from the top level (wrangler's rule).
  merged.vars = section.vars
  merged.hyperdrive = section.hyperdrive
  return merged
}

export function readServeSettings(raw: Json, file: string): ServeSettings {
  const fail = (field: string, message: string): never => {
    throw configError(basename(file), `field "${field}" ${message}`)
  }
  const int = (value: unknown, field: string, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return fail(field, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`)
    }
    return value
  }
  const limits = raw.limits
  let cpuMs: number | undefined
  let subrequests: number | undefined
  if (limits !== undefined) {
    if (!isObject(limits)) fail('limits', 'must be an object')
    else {
      // wrangler's bounds: cpu_ms up to 5 minutes, subrequests up to 10 million.
      cpuMs = int(limits.cpu_ms, 'limits.cpu_ms', 1, 300_000)
      subrequests = int(limits.subrequests, 'limits.subrequests', 1, 10_000_000)
    }
  }
  const wharf = isObject(raw.wharf) ? raw.wharf : {}
  const serve = wharf.serve
  let section: Json = {}
  if (serve !== undefined) {
    if (!isObject(serve)) fail('wharf.serve', 'must be an object')
    else section = serve
    for (const key of Object.keys(section)) {
      if (!(SERVE_FIELDS as readonly string[]).includes(key)) {
        fail(`wharf.serve.${key}`, `is not a known field (known: ${SERVE_FIELDS.join(', ')})`)
      }
    }
  }
  const day = 86_400_000
  const processes =
    section.processes === undefined
      ? Math.max(1, availableParallelism())
      : typeof section.processes === 'string' || typeof section.processes === 'number'
        ? parseProcesses(section.processes, 'is', (m) => fail('wharf.serve.processes', m.slice(3)))
        : fail('wharf.serve.processes', 'must be "auto" or an integer')
  const sharedSockets = readSharedSockets(section.shared_sockets, fail, int)
  return {
    ...(sharedSockets === undefined ? {} : { sharedSockets }),
    cpuMs: cpuMs ?? SERVE_DEFAULTS.cpuMs,
    subrequests: subrequests ?? SERVE_DEFAULTS.subrequests,
    memoryMb:
      int(section.memory_mb, 'wharf.serve.memory_mb', 16, 65_536) ?? SERVE_DEFAULTS.memoryMb,
    startupMs:
      int(section.startup_ms, 'wharf.serve.startup_ms', 1, 600_000) ?? SERVE_DEFAULTS.startupMs,
    processes,
    drainMs: int(section.drain_ms, 'wharf.serve.drain_ms', 0, day) ?? SERVE_DEFAULTS.drainMs,
    connectionQueueMs:
      int(section.connection_queue_ms, 'wharf.serve.connection_queue_ms', 1, day) ??
      SERVE_DEFAULTS.connectionQueueMs,
    maxQueuedConnections:
      int(section.max_queued_connections, 'wharf.serve.max_queued_connections', 1, 1_000_000) ??
      SERVE_DEFAULTS.maxQueuedConnections,
  }
}

function readSharedSockets(
  value: unknown,
  fail: (field: string, message: string) => never,
  int: (value: unknown, field: string, min: number, max: number) => number | undefined
): SharedSocketSettings | undefined {
  if (value === undefined) return undefined
  const at = 'wharf.serve.shared_sockets'
  if (!isObject(value)) return fail(at, 'must be an object')
  for (const key of Object.keys(value)) {
    if (!SHARED_SOCKETS_FIELDS.includes(key)) {
      fail(`${at}.${key}`, `is not a known field (known: ${SHARED_SOCKETS_FIELDS.join(', ')})`)
    }
  }
  const fromEnv = process.env[SHARED_SOCKETS_REDIS_ENV]
  const redis = fromEnv !== undefined && fromEnv !== '' ? fromEnv : value.redis
  if (typeof redis !== 'string' || !redis.startsWith('redis://')) {
    return fail(`${at}.redis`, `must be a redis:// URL (or set ${SHARED_SOCKETS_REDIS_ENV})`)
  }
  try {
    parseRedisUrl(redis, 'it')
  } catch (error) {
    return fail(`${at}.redis`, `is not usable: ${(error as Error).message}`)
  }
  const maxOpen =
    int(value.max_open, `${at}.max_open`, 1, 10_000_000) ?? fail(`${at}.max_open`, 'is required')
  const prefix = value.prefix ?? 'wharf:sockets:'
  if (typeof prefix !== 'string' || prefix.length > 200 || /\s/.test(prefix)) {
    return fail(`${at}.prefix`, 'must be a string of at most 200 characters, without spaces')
  }
  const onUnavailable = value.on_unavailable ?? 'allow'
  if (onUnavailable !== 'allow' && onUnavailable !== 'refuse') {
    return fail(
      `${at}.on_unavailable`,
      `must be "allow" or "refuse" (got ${JSON.stringify(onUnavailable)})`
    )
  }
  return { redis, maxOpen, prefix, onUnavailable }
}

/** Finds, reads and validates the config (with `--env`) and the serve settings. */
export function loadServeConfig(
  dir: string,
  file: string | undefined,
  env: string | undefined
): { config: WorkerConfig; settings: ServeSettings } {
  const path = findConfig(dir, file)
  const raw = applyEnvironment(parseConfigFile(path), path, env)
  const config = validateConfig(raw, path)
  // validateConfig lists the limits only serve reads as without effect (they are, in dev).
  const ignored = config.ignored.filter((field) => field !== 'limits.cpu_ms')
  return { config: { ...config, ignored }, settings: readServeSettings(raw, path) }
}
