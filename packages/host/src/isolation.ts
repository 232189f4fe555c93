/**
 * How the runtime process is kept from reaching the network on its own. With `netns`, it starts
 * in a network namespace of its own (via `unshare`), where no address routes anywhere: `node:net`,
 * `fetch`, `process.binding` and native addons all find nothing to connect to, and the only way
 * out is the dial broker in the supervisor, which applies the egress policy. With `none`, the
 * policy still governs `cloudflare:sockets` and `fetch`, but Worker code that imports `node:net`
 * directly is not stopped.
 */
import { spawnSync } from 'node:child_process'
import { WharfIsolationError } from './errors.js'

export type IsolationMode = 'auto' | 'netns' | 'none'

export interface Isolation {
  readonly kind: 'netns' | 'none'
  /** The command that wraps the runtime process (`unshare --net …`), empty for none. */
  readonly wrapper: readonly string[]
  /** One line for the start-up log. */
  readonly description: string
}

const NONE: Isolation = {
  kind: 'none',
  wrapper: [],
  description:
    'none: the egress policy governs cloudflare:sockets, fetch() and node:http, but not node:net used directly',
}

let probed: Isolation | undefined | null = null

/** Finds a working `unshare` form: as root a plain new netns, otherwise inside a user namespace. */
function probe(): Isolation | undefined {
  for (const wrapper of [
    ['unshare', '--net'],
    ['unshare', '--net', '--map-root-user'],
  ]) {
    const [command = 'unshare', ...args] = wrapper
    const result = spawnSync(command, [...args, 'true'], { stdio: 'ignore', timeout: 5000 })
    if (result.status === 0) {
      return {
        kind: 'netns',
        wrapper,
        description:
          'network namespace: the Worker has no network of its own; every connection is opened by the host after the egress check',
      }
    }
  }
  return undefined
}

/** Resolves the configured mode. `netns` fails if this machine cannot create a namespace. */
export function resolveIsolation(mode: IsolationMode): Isolation {
  if (mode === 'none') return NONE
  if (probed === null) probed = probe()
  if (probed) return probed
  if (mode === 'netns') {
    throw new WharfIsolationError(
      'wharf.isolation is "netns" but this machine cannot create a network namespace (`unshare --net` failed as this user, with and without --map-root-user); run as root, enable unprivileged user namespaces, or set "isolation": "auto"'
    )
  }
  return NONE
}
