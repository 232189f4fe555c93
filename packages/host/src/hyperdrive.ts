/**
 * `hyperdrive` bindings: each one gets an in-process `@wharf/pool` pooler on loopback, and the
 * Worker's `env.<BINDING>` points at it. The connection string comes from
 * CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING> (wrangler's precedence), the deprecated
 * WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING>, or `localConnectionString`.
 */
import type { PoolMetrics } from '@wharf/pool'
import type { HyperdriveBinding } from './config.js'
import { WharfError } from './errors.js'
import type { HyperdriveInfo } from './protocol.js'

export interface StartedBinding {
  readonly binding: string
  readonly info?: HyperdriveInfo
  readonly error?: string
  /** The in-process pooler's figures (for `wharf serve`'s /metrics). */
  metrics?(): PoolMetrics
  close(): Promise<void>
}

export function hyperdriveConnectionString(
  binding: HyperdriveBinding,
  envVars: NodeJS.ProcessEnv = process.env
): string {
  const current = envVars[`CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding}`]
  if (current !== undefined && current !== '') return current
  const old = envVars[`WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding}`]
  if (old !== undefined && old !== '') {
    process.stderr.write(
      `[wharf:warn] WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding} is deprecated; use CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding}\n`
    )
    return old
  }
  if (binding.localConnectionString !== undefined) return binding.localConnectionString
  throw new WharfError(
    'ERR_WHARF_HYPERDRIVE_CONFIG',
    `hyperdrive binding "${binding.binding}" has no local connection string: set CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${binding.binding} or "localConnectionString" in the config`
  )
}

/** Starts one in-process pooler per binding. A pooler that cannot start leaves a failing binding. */
export async function startHyperdrive(
  bindings: readonly HyperdriveBinding[]
): Promise<StartedBinding[]> {
  const started: StartedBinding[] = []
  for (const binding of bindings) {
    const upstream = hyperdriveConnectionString(binding)
    try {
      // Loaded on first use: a Worker without hyperdrive bindings never pays for the pooler.
      const { startPool } = await import('@wharf/pool')
      const pool = await startPool({ upstream, listen: '127.0.0.1:0', name: binding.binding })
      const info: HyperdriveInfo = {
        connectionString: pool.connectionString,
        host: pool.host,
        port: pool.port,
        user: pool.user,
        password: pool.password,
        database: pool.database,
      }
      started.push({
        binding: binding.binding,
        info,
        metrics: () => pool.metrics(),
        close: async () => pool.close(),
      })
    } catch (error) {
      const message = (error as Error).message
      process.stderr.write(
        `[wharf:error] hyperdrive binding ${binding.binding}: the in-process pooler did not start: ${message}\n`
      )
      started.push({ binding: binding.binding, error: message, close: () => Promise.resolve() })
    }
  }
  return started
}
