/**
 * Connection set-up: admission, the connect timeout, the egress policy, then `net.connect` /
 * `tls.connect` or the runtime's `dial` (with TLS layered on its result). The outcome is kept on a
 * `Connection`; the socket is told through `SetupHost`.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { ParsedConnect, SecureTransport } from './address.js'
import {
  EgressDeniedError,
  SocketAddressError,
  SocketClosedBeforeOpenError,
  SocketConnectTimeoutError,
} from './errors.js'
import type { SocketTerms } from './runtime.js'
import { deferred, type Deferred } from './streams.js'
import { collectCa, tlsClientOptions } from './tls-context.js'

const State = { Pending: 0, Connected: 1, Failed: 2 } as const
type State = (typeof State)[keyof typeof State]

/** The transport and how setting it up went. `Connected` stays true after it is lost or closed. */
export class Connection {
  node: NodeSocket | undefined
  private state: State = State.Pending
  /** The writable's error once failed: writes waiting for the connection reject with it. */
  private error: Error | undefined
  private waiter: Deferred<void> | undefined
  private timer: NodeJS.Timeout | undefined

  get connected(): boolean {
    return this.state === State.Connected
  }
  get failed(): boolean {
    return this.state === State.Failed
  }
  get pending(): boolean {
    return this.state === State.Pending
  }

  /** Resolves when connected; rejects with the writable's error if connecting failed. */
  whenConnected(): Promise<void> {
    if (this.state === State.Connected) return Promise.resolve()
    if (this.error) return Promise.reject(this.error)
    this.waiter ??= deferred<void>(true)
    return this.waiter.promise
  }

  setTimer(timer: NodeJS.Timeout): void {
    this.timer = timer
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer)
  }

  markConnected(): void {
    this.state = State.Connected
    this.clearTimer()
    this.waiter?.resolve()
  }

  /** Set-up failed (connect, or the StartTLS handshake); writes reject later, with `rejectWrites`. */
  markFailed(): void {
    this.state = State.Failed
    this.clearTimer()
  }

  rejectWrites(error: Error): void {
    this.error = error
    this.waiter?.reject(error)
  }
}

type NodeSocket = net.Socket

/** What set-up needs from the socket it opens a connection for. */
export interface SetupHost {
  readonly parsed: ParsedConnect
  readonly secureTransport: SecureTransport
  readonly terms: SocketTerms
  readonly connection: Connection
  readonly closing: boolean
  fail(cause: unknown, workerMessage?: string): void
  /** Wires a Node socket (plain, TLS, or TLS over a dialled one) to the streams. */
  attach(node: NodeSocket): void
  onConnected(): void
}

export async function establish(host: SetupHost): Promise<void> {
  const { parsed, terms, connection } = host
  try {
    if (terms.admitted) await terms.admitted
  } catch (error) {
    host.fail(error, error instanceof Error ? error.message : undefined)
    return
  }
  const timeoutMs = parsed.node.connectTimeoutMs ?? terms.connectTimeoutMs
  // Only a policy's lookup or a dial can be aborted; without them, skip the (costly) controller.
  const abort = terms.policy || terms.dial ? new AbortController() : undefined
  if (timeoutMs !== undefined) {
    connection.setTimer(
      setTimeout(() => {
        const error = new SocketConnectTimeoutError(timeoutMs)
        abort?.abort(error)
        host.fail(error)
      }, timeoutMs)
    )
  }
  const target = parsed.target
  if (target === undefined) {
    // Fails a turn later, as workerd's connection does: startTls() called at once still takes it.
    await Promise.resolve()
    host.fail(new SocketAddressError(parsed.addressString))
    return
  }
  let address = target.host
  if (terms.policy && abort) {
    let decision
    try {
      decision = await terms.policy.decide(address, target.port, abort.signal)
    } catch (error) {
      host.fail(error)
      return
    }
    if (connection.failed) return
    if (!decision.allowed) {
      host.fail(new EgressDeniedError(decision.rule, decision.reason), decision.workerMessage)
      return
    }
    address = decision.address
  }
  if (connection.failed) return
  if (terms.dial && abort) {
    await establishByDial(host, address, target.port, abort.signal)
    return
  }
  let node: NodeSocket
  if (host.secureTransport === 'on') {
    const ca = collectCa(terms.ca, parsed.node.ca)
    node = tls.connect({
      ...tlsClientOptions(parsed.domain, ca),
      host: address,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    } as tls.ConnectionOptions)
    node.once('secureConnect', () => host.onConnected())
  } else {
    node = net.connect({ host: address, port: target.port, allowHalfOpen: true, noDelay: true })
    node.once('connect', () => host.onConnected())
  }
  host.attach(node)
}

/** The runtime opens the connection (e.g. a broker outside a sandbox); TLS is added here. */
async function establishByDial(
  host: SetupHost,
  hostname: string,
  port: number,
  signal: AbortSignal
): Promise<void> {
  const { terms, parsed, connection } = host
  let plain: NodeSocket
  try {
    if (!terms.dial) throw new Error('no dial')
    plain = await terms.dial({ hostname, port }, signal)
  } catch (error) {
    const workerMessage = (error as { workerMessage?: unknown } | null)?.workerMessage
    host.fail(error, typeof workerMessage === 'string' ? workerMessage : undefined)
    return
  }
  if (connection.failed || host.closing) {
    plain.destroy()
    if (!connection.failed) host.fail(new SocketClosedBeforeOpenError('closed while connecting'))
    return
  }
  // A socket made from a passed handle has Node's default (false): workerd's EOF rules are ours.
  plain.allowHalfOpen = true
  plain.setNoDelay(true)
  if (host.secureTransport === 'on') {
    const ca = collectCa(terms.ca, parsed.node.ca)
    const secure = tls.connect({ ...tlsClientOptions(parsed.domain, ca), socket: plain })
    secure.once('secureConnect', () => host.onConnected())
    host.attach(secure)
    return
  }
  host.attach(plain)
  host.onConnected()
}
