/** Messages between the HTTP side (main thread) and a Worker thread. */
import type { Limits, EgressConfig } from './config.js'

/** An address:port the Worker may reach whatever the policy says (the host's own services). */
export interface ScopedException {
  readonly host: string
  readonly port: number
  /** Names the exception in logs and `wharf egress check`, e.g. `hyperdrive:HYPERDRIVE`. */
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

export interface ThreadData {
  readonly main: string
  readonly vars: Record<string, unknown>
  readonly limits: Limits
  readonly egress: EgressConfig
  readonly exceptions: readonly ScopedException[]
  /** The host's own listening addresses: denied to the Worker (no loops back into the host). */
  readonly hostAddresses: readonly { readonly address: string; readonly port: number }[]
  readonly hyperdrive: readonly { binding: string; info?: HyperdriveInfo; error?: string }[]
}

export type Headers = [string, string][]

export type ToThread =
  | {
      t: 'req'
      id: number
      method: string
      url: string
      headers: Headers
      body: boolean
    }
  | { t: 'body'; id: number; chunk: Uint8Array }
  | { t: 'bodyEnd'; id: number }
  | { t: 'abort'; id: number }
  | { t: 'ack'; id: number; bytes: number }

export type FromThread =
  | { t: 'ready' }
  | { t: 'loadError'; message: string }
  | {
      t: 'head'
      id: number
      status: number
      statusText: string
      headers: Headers
      chunk?: Uint8Array
      end: boolean
    }
  | { t: 'chunk'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'fail'; id: number; stack: string }
  | { t: 'bodyAck'; id: number; bytes: number }
  | { t: 'done'; id: number }
