/**
 * `@wharf/host`: run Worker modules on Node with Workers' socket rules (the `wharf` CLI).
 *
 * @module
 */
export { main } from './cli.js'
export { startDev, type DevOptions, type DevServer } from './dev.js'
export { loadConfig, DEFAULT_LIMITS, type WorkerConfig, type Limits } from './config.js'
export {
  WharfError,
  WharfBuildError,
  WharfConfigError,
  WharfDialError,
  WharfDialTimeoutError,
  WharfHyperdriveConfigError,
  WharfHyperdriveStartError,
  WharfIsolationError,
  WharfListenError,
  WharfRuntimeExitError,
  WharfSandboxError,
  WharfStartupError,
  WharfTunnelError,
  WharfUsageError,
  WharfWorkerLoadError,
} from './errors.js'
