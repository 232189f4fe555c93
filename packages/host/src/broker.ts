/**
 * The dial broker: the only place a Worker's outbound connection is opened. It runs in the
 * supervisor, outside the runtime process (which, isolated in its own network namespace, has no
 * route anywhere). Every request from the runtime is hostile input: it is validated, checked
 * against the egress policy here, connected to exactly the checked address, and the connected
 * socket is passed back to the runtime as a file descriptor. Where the native fd channel is
 * built, the connection it passes is never a Node socket here, only a descriptor.
 */
import net from 'node:net'
import { EgressDeniedError } from '@wharf/sockets/runtime'
import { createHostPolicy, type HostPolicyOptions } from './egress.js'
import { WharfDialTimeoutError } from './errors.js'
import { connectForPassing, hasFdChannel, type Passable } from './fd-channel.js'
import type { DialReply, DialRequest, EgressPolicy, RuntimeData } from './protocol.js'
import type { Route } from './tunnels.js'

export interface BrokerLimits {
  /** How long policy + TCP connect may take in the broker. */
  readonly connectTimeoutMs: number
  /** Dials in progress per runtime; more are refused at once. */
  readonly maxPendingDials: number
}

const MAX_ID = 2 ** 31

function isDialRequest(message: unknown): message is DialRequest {
  const m = message as Partial<DialRequest> | null
  return (
    typeof m === 'object' &&
    m !== null &&
    m.t === 'dial' &&
    Number.isInteger(m.id) &&
    (m.id ?? -1) >= 0 &&
    (m.id ?? MAX_ID) < MAX_ID &&
    typeof m.hostname === 'string' &&
    m.hostname.length > 0 &&
    m.hostname.length <= 300 &&
    Number.isInteger(m.port) &&
    (m.port ?? 0) >= 1 &&
    (m.port ?? 0) <= 65535 &&
    (m.via === undefined || (typeof m.via === 'string' && m.via.length <= 80))
  )
}

export class DialBroker {
  private pending = 0

  constructor(
    private readonly policy: EgressPolicy,
    private readonly limits: BrokerLimits,
    /** Per `vpc_*` binding: its tunnel. The connector's ingress rules, not the policy, decide. */
    private readonly routes: ReadonlyMap<string, Route> = new Map()
  ) {}

  /** The broker for one Worker version: its egress policy, limits and tunnel routes. */
  static forRuntime(
    data: RuntimeData,
    routes?: ReadonlyMap<string, Route>,
    onDenied?: HostPolicyOptions['onDenied']
  ): DialBroker {
    return new DialBroker(
      createHostPolicy({
        egress: data.egress,
        exceptions: data.exceptions,
        hostAddresses: data.hostAddresses,
        ...(onDenied === undefined ? {} : { onDenied }),
      }),
      {
        connectTimeoutMs: data.limits.connectTimeoutMs,
        maxPendingDials: data.limits.maxOpenSockets,
      },
      routes
    )
  }

  /** Whether a runtime message is a dial request this broker should answer. */
  static matches(message: unknown): boolean {
    return (message as { t?: unknown } | null)?.t === 'dial'
  }

  /** Answers one dial request exactly once through `reply`. Never throws. */
  async handle(
    message: unknown,
    reply: (answer: DialReply, socket?: Passable) => void
  ): Promise<void> {
    if (!isDialRequest(message)) {
      const id = (message as { id?: unknown } | null)?.id
      if (Number.isInteger(id)) {
        reply({ t: 'dialed', id: id as number, ok: false, reason: 'malformed dial request' })
      }
      return
    }
    const { id, hostname, port } = message
    if (this.pending >= this.limits.maxPendingDials) {
      reply({ t: 'dialed', id, ok: false, reason: 'too many dials in progress' })
      return
    }
    this.pending++
    try {
      const socket =
        message.via === undefined
          ? await this.openToPass(hostname, port)
          : await this.openVia(message.via, hostname, port)
      reply({ t: 'dialed', id, ok: true }, socket)
    } catch (error) {
      const workerMessage = (error as { workerMessage?: unknown }).workerMessage
      reply({
        t: 'dialed',
        id,
        ok: false,
        reason: (error as Error).message,
        ...(typeof workerMessage === 'string' ? { workerMessage } : {}),
      })
    } finally {
      this.pending--
    }
  }

  /**
   * Checks `hostname:port` against the policy and connects to the checked address. Rejects with
   * the policy's reason (and `workerMessage`, e.g. port 25's) or the connect error.
   */
  open(hostname: string, port: number, signal?: AbortSignal): Promise<net.Socket> {
    return this.decideAndConnect(hostname, port, signal, (address, bounded) =>
      this.connect(address, port, bounded)
    )
  }

  /** As `open`, for a connection that only travels on: a bare descriptor where that is built. */
  private openToPass(hostname: string, port: number): Promise<Passable> {
    if (!hasFdChannel()) return this.open(hostname, port)
    return this.decideAndConnect(hostname, port, undefined, (address, bounded) =>
      connectForPassing(address, port, bounded)
    )
  }

  private async decideAndConnect<T>(
    hostname: string,
    port: number,
    signal: AbortSignal | undefined,
    connect: (address: string, bounded: AbortSignal) => Promise<T>
  ): Promise<T> {
    // One controller and one plain timer per dial, cleared when it settles: on every request,
    // AbortSignal.timeout() (a weakly held timer) and AbortSignal.any() cost more.
    const bounded = new AbortController()
    const timer = setTimeout(
      () => bounded.abort(new WharfDialTimeoutError(hostname, port)),
      this.limits.connectTimeoutMs
    )
    const onAbort = (): void => bounded.abort(signal?.reason)
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const decision = await this.policy.decide(hostname, port, bounded.signal)
      if (!decision.allowed) {
        throw new EgressDeniedError(decision.rule, decision.reason, decision.workerMessage)
      }
      // A policy that answered after the deadline: 'abort' has fired already and will not again.
      if (bounded.signal.aborted) throw new WharfDialTimeoutError(decision.address, port)
      return await connect(decision.address, bounded.signal)
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Opens a flow through a binding's tunnel, bounded by the connect timeout. */
  private openVia(via: string, hostname: string, port: number): Promise<net.Socket> {
    const route = this.routes.get(via)
    if (route === undefined) return Promise.reject(new Error(`no vpc binding "${via}"`))
    return route(hostname, port, AbortSignal.timeout(this.limits.connectTimeoutMs))
  }

  /** Connects to the checked address itself, unread (paused) so no byte stays behind here. */
  private connect(address: string, port: number, signal: AbortSignal): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: address, port, allowHalfOpen: true })
      socket.pause()
      const onAbort = (): void => {
        socket.destroy()
        reject(new WharfDialTimeoutError(address, port))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort)
        resolve(socket)
      })
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort)
        socket.destroy()
        reject(error)
      })
    })
  }
}
