// @wharf/host's exports map: the CLI entry, the dev server and config loader, and one class per
// error code; no internals (the broker, the supervisor, the egress policy helpers, the bundler).
import { join } from 'node:path'
import { it } from 'node:test'
import { checkExportsMap } from '../../../test-support/exports-map.js'

it('every entry of the exports map exposes exactly its documented names', async () => {
  await checkExportsMap(
    join(import.meta.dirname, '..'),
    {
      '.': [
        'DEFAULT_LIMITS',
        'WharfBuildError',
        'WharfConfigError',
        'WharfDialError',
        'WharfDialTimeoutError',
        'WharfError',
        'WharfHyperdriveConfigError',
        'WharfHyperdriveStartError',
        'WharfIsolationError',
        'WharfListenError',
        'WharfRuntimeExitError',
        'WharfSandboxError',
        'WharfStartupError',
        'WharfTunnelError',
        'WharfUsageError',
        'WharfWorkerLoadError',
        'loadConfig',
        'main',
        'startDev',
      ],
    },
    [
      'DialBroker',
      'WorkerProcess',
      'RuntimePool',
      'createHostPolicy',
      'buildWorker',
      'startHyperdrive',
      'startServe',
      'configError',
      'usageError',
      'listenError',
      'loadError',
      'classify',
      'parseIp',
    ]
  )
})
