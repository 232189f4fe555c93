/**
 * The parts of a runtime's start data that come straight from the build and from the config's
 * bindings, made in one place for `wharf dev`, `wharf serve` and the Workers behind service
 * bindings.
 */
import type { WorkerBundle } from './bundle/index.js'
import type { WorkerConfig } from './config.js'
import type { RuntimeData } from './protocol.js'
import { newVersionMetadata } from './version-metadata.js'

export function bundleFields(
  bundle: Pick<WorkerBundle, 'entry' | 'unbundled' | 'moduleFormats' | 'serviceWorker'>
): Pick<RuntimeData, 'main' | 'unbundled' | 'moduleFormats' | 'serviceWorker'> {
  return {
    main: bundle.entry,
    ...(bundle.unbundled ? { unbundled: true } : {}),
    ...(bundle.moduleFormats === undefined ? {} : { moduleFormats: bundle.moduleFormats }),
    ...(bundle.serviceWorker === true ? { serviceWorker: true } : {}),
  }
}

/** Bindings the runtime makes itself; `version_metadata` gets a new id per call (per version). */
export function runtimeBindingFields(
  config: Pick<WorkerConfig, 'unsupported' | 'versionMetadata' | 'rateLimits'>
): Pick<RuntimeData, 'unsupported' | 'versionMetadata' | 'rateLimits'> {
  return {
    ...(config.unsupported.length === 0 ? {} : { unsupported: config.unsupported }),
    ...newVersionMetadata(config.versionMetadata),
    ...(config.rateLimits.length === 0 ? {} : { rateLimits: config.rateLimits }),
  }
}
