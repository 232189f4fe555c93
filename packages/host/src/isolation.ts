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
import { which } from './sandbox.js'

export type IsolationMode = 'auto' | 'netns' | 'none'

export interface Isolation {
  readonly kind: 'netns' | 'none'
  /** The command that wraps the runtime process (`unshare --net …`), empty for none. */
  readonly wrapper: readonly string[]
  /** One line for the start-up log. */
  readonly description: string
  /**
   * The wrapper brings the namespace's loopback up (`unshare --net` leaves `lo` down), so the
   * runtime can dial through the supervisor's loopback relay (dial-relay.ts) instead of IPC.
   */
  readonly loopback: boolean
}

const NONE: Isolation = {
  kind: 'none',
  wrapper: [],
  loopback: false,
  description:
    'none: the egress policy governs cloudflare:sockets and fetch(), but not node:net used directly',
}

let probed: Isolation | undefined | null = null

/** Quotes `text` for sh (the paths of `ip`). */
const shellQuote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`

/**
 * `wrapper` plus a shell that brings `lo` up before it becomes the runtime, if `ip` exists and
 * that works in the namespace (probed once, like the namespace itself).
 */
function withLoopback(wrapper: string[]): string[] | undefined {
  const ip = which('ip')
  const sh = which('sh')
  if (ip === undefined || sh === undefined) return undefined
  const [command = 'unshare', ...args] = wrapper
  const result = spawnSync(command, [...args, ip, 'link', 'set', 'lo', 'up'], {
    stdio: 'ignore',
    timeout: 5000,
  })
  if (result.status !== 0) return undefined
  // The runtime's command follows the wrapper: it is "$0" "$@" of this script.
  return [...wrapper, sh, '-c', `${shellQuote(ip)} link set lo up && exec "$0" "$@"`]
}

/** Finds a working `unshare` form: as root a plain new netns, otherwise inside a user namespace. */
function probe(): Isolation | undefined {
  for (const plain of [
    ['unshare', '--net'],
    ['unshare', '--net', '--map-root-user'],
  ]) {
    const [command = 'unshare', ...args] = plain
    const result = spawnSync(command, [...args, 'true'], { stdio: 'ignore', timeout: 5000 })
    if (result.status === 0) {
      const up = withLoopback(plain)
      return {
        kind: 'netns',
        wrapper: up ?? plain,
        loopback: up !== undefined,
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

/**
 * How the runtime's connections are opened, for the start-up log. Bubblewrap's own network
 * namespace has `lo` up; `unshare --net`'s has it only through `withLoopback`.
 */
export function dialPath(isolation: Isolation, sandboxed: boolean): string {
  if (isolation.kind === 'none') return 'in the runtime process, after the same egress check'
  if (sandboxed || isolation.loopback) {
    return "through the host's loopback relay (the runtime's own loopback, a listener the host holds; no IPC per connection)"
  }
  return 'over IPC, as passed descriptors (the namespace has no loopback: `ip` is missing or failed)'
}
