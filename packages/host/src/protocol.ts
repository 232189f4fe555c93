/** Messages between the supervisor (`wharf dev`) and a Worker's runtime process. */
import type { DialReply, DialRequest } from './broker.js'
import type { Limits, EgressConfig } from './config.js'

/** An address:port the Worker may reach whatever the policy says (the host's own services). */
export interface ScopedException {
  readonly host: string
  readonly port: number
  /** Names the exception in logs, e.g. `hyperdrive:HYPERDRIVE`. */
  readonly label: string
}

export interface HyperdriveInfo {
  readonly connectionString: string
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

export interface RuntimeData {
  readonly main: string
  /** `http://HOST:PORT` of the dev server, for `request.url`. */
  readonly origin: string
  readonly vars: Record<string, unknown>
  readonly limits: Limits
  readonly egress: EgressConfig
  readonly exceptions: readonly ScopedException[]
  /** The host's own listening addresses: denied to the Worker (no loops back into the host). */
  readonly hostAddresses: readonly { readonly address: string; readonly port: number }[]
  readonly hyperdrive: readonly { binding: string; info?: HyperdriveInfo; error?: string }[]
  /**
   * The runtime has no network (its own namespace): connections come from the supervisor's
   * broker. Otherwise the runtime applies the same policy in-process (faster, not isolated).
   */
  readonly brokered?: boolean
}

/**
 * To the runtime: its data once, then accepted connections (with the socket as the handle), and
 * the answers to its dial requests (with the connected socket as the handle).
 */
export type ToRuntime =
  { t: 'init'; data: RuntimeData } | { t: 'conn' } | { t: 'drain' } | DialReply

export type FromRuntime = { t: 'ready' } | { t: 'loadError'; message: string } | DialRequest
