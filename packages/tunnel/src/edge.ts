/**
 * The edge: accepts connectors (TLS, challenge-response) and opens flows through them.
 *
 * One TLS connection per flow, not streams over one connection: each flow is its own TCP
 * connection from the connector, so a bulk transfer on one flow can never hold up another's bytes
 * (no head-of-line blocking), flow control is the kernel's, and a flow's buffering is bounded by
 * its sockets' own. The cost is a TLS handshake per flow (with session resumption), measured in
 * docs/tunnel.md against the head-of-line delay a shared connection showed.
 */
import { randomBytes } from 'node:crypto'
import type net from 'node:net'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { newNonce, proof, sameProof, type ProofFields, type Role } from './auth.js'
import {
  TunnelAuthError,
  TunnelConfigError,
  TunnelFlowError,
  TunnelLimitError,
  TunnelProtocolError,
  TunnelUnavailableError,
} from './errors.js'
import { encode, FrameReader, integer, text, type Message } from './frames.js'
import { isTunnelId, parseSecret } from './token.js'

export interface EdgeKey {
  readonly id: string
  /** base64url, 32 bytes (the last part of the connector's token). */
  readonly secret: string
  /** After this instant (ISO 8601) the key is stale and refused. */
  readonly notAfter?: string
}

export interface EdgeTunnel {
  readonly id: string
  readonly keys: readonly EdgeKey[]
}

export interface TunnelEdgeOptions {
  readonly host?: string
  readonly port?: number
  /** PEM certificate and key the edge presents; connectors verify them. */
  readonly cert: string
  readonly key: string
  readonly tunnels: readonly EdgeTunnel[]
  readonly maxFlowsPerTunnel?: number
  readonly maxConnectorsPerTunnel?: number
  readonly maxPendingHandshakes?: number
  readonly handshakeTimeoutMs?: number
  readonly openTimeoutMs?: number
  readonly flowIdleTimeoutMs?: number
  readonly pingIntervalMs?: number
  readonly log?: (line: string) => void
}

export interface FlowOptions {
  readonly signal?: AbortSignal
  readonly timeoutMs?: number
}

export interface EdgeStats {
  readonly connectors: Readonly<Record<string, number>>
  readonly flowsOpen: number
  readonly flowsOpened: number
  readonly flowsRefused: number
  readonly authFailures: number
}

interface KnownKey {
  readonly secret: Buffer
  readonly notAfter: number
}

interface Session {
  readonly id: string
  readonly tunnel: string
  readonly key: string
  readonly socket: tls.TLSSocket
  readonly pending: Set<number>
}

interface PendingFlow {
  readonly session: Session
  readonly resolve: (socket: tls.TLSSocket) => void
  readonly reject: (error: Error) => void
}

const MAX_FLOW_ID = 2 ** 31 - 1

function compileTunnels(tunnels: readonly EdgeTunnel[]): Map<string, Map<string, KnownKey>> {
  const compiled = new Map<string, Map<string, KnownKey>>()
  for (const [i, tunnel] of tunnels.entries()) {
    if (!isTunnelId(tunnel.id)) throw new TunnelConfigError(`tunnels[${i}].id is not a valid id`)
    const keys = new Map<string, KnownKey>()
    for (const [j, key] of tunnel.keys.entries()) {
      const where = `tunnels[${i}].keys[${j}]`
      if (!isTunnelId(key.id)) throw new TunnelConfigError(`${where}.id is not a valid id`)
      const notAfter = key.notAfter === undefined ? Infinity : Date.parse(key.notAfter)
      if (Number.isNaN(notAfter)) throw new TunnelConfigError(`${where}.notAfter is not a date`)
      try {
        keys.set(key.id, { secret: parseSecret(key.secret), notAfter })
      } catch (error) {
        throw new TunnelConfigError(`${where}.secret: ${(error as Error).message}`)
      }
    }
    compiled.set(tunnel.id, keys)
  }
  return compiled
}

export class TunnelEdge {
  private readonly server: tls.Server
  private tunnels: Map<string, Map<string, KnownKey>>
  private readonly sessions = new Map<string, Session[]>()
  private readonly pending = new Map<number, PendingFlow>()
  private readonly openFlows = new Map<string, number>()
  private readonly roundRobin = new Map<string, number>()
  private handshakes = 0
  private nextFlow = 1
  private opened = 0
  private refused = 0
  private authFailures = 0
  private readonly pinger: NodeJS.Timeout
  private closed = false
  /** Every TCP connection, so close() ends flows and half-finished handshakes too. */
  private readonly connections = new Set<net.Socket>()

  private readonly maxFlowsPerTunnel: number
  private readonly maxConnectorsPerTunnel: number
  private readonly maxPendingHandshakes: number
  private readonly handshakeTimeoutMs: number
  private readonly openTimeoutMs: number
  private readonly flowIdleTimeoutMs: number
  private readonly log: (line: string) => void

  private constructor(options: TunnelEdgeOptions) {
    this.tunnels = compileTunnels(options.tunnels)
    this.maxFlowsPerTunnel = options.maxFlowsPerTunnel ?? 1024
    this.maxConnectorsPerTunnel = options.maxConnectorsPerTunnel ?? 16
    this.maxPendingHandshakes = options.maxPendingHandshakes ?? 64
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5_000
    this.openTimeoutMs = options.openTimeoutMs ?? 10_000
    this.flowIdleTimeoutMs = options.flowIdleTimeoutMs ?? 10 * 60_000
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
    this.server = tls.createServer(
      { cert: options.cert, key: options.key, minVersion: 'TLSv1.2', allowHalfOpen: true },
      (socket) => this.accept(socket)
    )
    // A client that fails the TLS handshake is its own problem, never the edge's.
    this.server.on('tlsClientError', () => undefined)
    this.server.on('connection', (raw: net.Socket) => {
      this.connections.add(raw)
      raw.once('close', () => this.connections.delete(raw))
    })
    const ping = options.pingIntervalMs ?? 15_000
    this.pinger = setInterval(() => this.ping(), ping)
    this.pinger.unref()
  }

  static async start(options: TunnelEdgeOptions): Promise<TunnelEdge> {
    const edge = new TunnelEdge(options)
    await new Promise<void>((resolve, reject) => {
      edge.server.once('error', reject)
      edge.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        edge.server.off('error', reject)
        resolve()
      })
    })
    return edge
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo
  }

  /** Replaces the tunnels and keys (rotation). Connectors on a removed key stay until they reconnect. */
  setTunnels(tunnels: readonly EdgeTunnel[]): void {
    this.tunnels = compileTunnels(tunnels)
  }

  liveConnectors(tunnel: string): number {
    return this.sessions.get(tunnel)?.length ?? 0
  }

  stats(): EdgeStats {
    const connectors: Record<string, number> = {}
    for (const [tunnel, list] of this.sessions) connectors[tunnel] = list.length
    let flowsOpen = 0
    for (const n of this.openFlows.values()) flowsOpen += n
    return {
      connectors,
      flowsOpen,
      flowsOpened: this.opened,
      flowsRefused: this.refused,
      authFailures: this.authFailures,
    }
  }

  /**
   * A byte pipe to `host:port` inside the tunnel's network, as the connector's rules allow. The
   * connector decides; a refusal rejects with its reason.
   */
  openFlow(
    tunnel: string,
    host: string,
    port: number,
    options: FlowOptions = {}
  ): Promise<tls.TLSSocket> {
    const live = this.sessions.get(tunnel) ?? []
    if (this.closed || live.length === 0) {
      return Promise.reject(
        new TunnelUnavailableError(`no connector of tunnel "${tunnel}" is connected`)
      )
    }
    const open = this.openFlows.get(tunnel) ?? 0
    if (open >= this.maxFlowsPerTunnel) {
      return Promise.reject(
        new TunnelLimitError(`tunnel "${tunnel}" has ${open} flows open, its limit`)
      )
    }
    const turn = (this.roundRobin.get(tunnel) ?? 0) % live.length
    this.roundRobin.set(tunnel, turn + 1)
    const session = live[turn] as Session
    const flow = this.nextFlow
    this.nextFlow = this.nextFlow >= MAX_FLOW_ID ? 1 : this.nextFlow + 1
    this.openFlows.set(tunnel, open + 1)
    let counted = true
    const release = (): void => {
      if (!counted) return
      counted = false
      this.openFlows.set(tunnel, (this.openFlows.get(tunnel) ?? 1) - 1)
    }
    return new Promise<tls.TLSSocket>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.openTimeoutMs
      const timer = setTimeout(
        () =>
          fail(
            new TunnelFlowError(`the connector did not open ${host}:${port} within ${timeoutMs} ms`)
          ),
        timeoutMs
      )
      const onAbort = (): void =>
        fail(
          options.signal?.reason instanceof Error
            ? options.signal.reason
            : new TunnelFlowError('aborted')
        )
      const done = (): void => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        this.pending.delete(flow)
        session.pending.delete(flow)
      }
      const fail = (error: Error): void => {
        done()
        release()
        reject(error)
      }
      if (options.signal?.aborted === true) {
        onAbort()
        return
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(flow, {
        session,
        resolve: (socket) => {
          done()
          this.opened++
          socket.once('close', release)
          resolve(socket)
        },
        reject: fail,
      })
      session.pending.add(flow)
      session.socket.write(encode({ t: 'open', flow, host, port }))
    })
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.pinger)
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const raw of this.connections) raw.destroy()
    await stopped
  }

  private ping(): void {
    for (const list of this.sessions.values()) {
      for (const s of list) s.socket.write(encode({ t: 'ping' }))
    }
  }

  private accept(socket: tls.TLSSocket): void {
    socket.on('error', () => undefined)
    // Handshake messages and flow bytes are small and latency-bound: never wait for Nagle.
    socket.setNoDelay(true)
    if (this.closed || this.handshakes >= this.maxPendingHandshakes) {
      socket.destroy()
      return
    }
    this.handshakes++
    let handshaking = true
    const finishHandshake = (): void => {
      if (!handshaking) return
      handshaking = false
      this.handshakes--
    }
    socket.once('close', finishHandshake)
    // Only a flow stays half-open after the connector's FIN; a control or unfinished connection ends.
    let flowSocket = false
    socket.once('end', () => {
      if (!flowSocket) socket.end()
    })
    socket.setTimeout(this.handshakeTimeoutMs, () => socket.destroy())
    const edgeNonce = newNonce()
    socket.write(encode({ t: 'challenge', v: 1, nonce: edgeNonce }))
    const reader = new FrameReader(
      socket,
      (message) => {
        try {
          if (handshaking) {
            if (message.t !== 'hello') throw new TunnelProtocolError('expected hello')
            finishHandshake()
            flowSocket = this.hello(socket, reader, message, edgeNonce)
          } else {
            this.control(socket, message)
          }
        } catch (error) {
          this.refuse(socket, error as Error)
        }
      },
      (error) => this.refuse(socket, error)
    )
  }

  private refuse(socket: tls.TLSSocket, error: Error): void {
    const code = (error as { code?: string }).code ?? 'ERR_TUNNEL_PROTOCOL'
    if (socket.writable) socket.end(encode({ t: 'error', code, message: error.message }))
    setTimeout(() => socket.destroy(), 1_000).unref()
  }

  private authFailed(socket: tls.TLSSocket, reason: string): false {
    this.authFailures++
    this.log(`[wharf:tunnel] refused a connector from ${socket.remoteAddress ?? '?'}: ${reason}`)
    this.refuse(socket, new TunnelAuthError('authentication failed'))
    return false
  }

  /** Authenticates a connection; true when it became a flow. */
  private hello(
    socket: tls.TLSSocket,
    reader: FrameReader,
    message: Message,
    edgeNonce: string
  ): boolean {
    const tunnel = text(message, 'tunnel', 64)
    const keyId = text(message, 'key', 64)
    const role = text(message, 'role', 16) as Role
    if (role !== 'control' && role !== 'data') throw new TunnelProtocolError('unknown role')
    const connectorNonce = text(message, 'nonce', 64)
    const flow = role === 'data' ? integer(message, 'flow', 1, MAX_FLOW_ID) : 0
    const sessionId = role === 'data' ? text(message, 'session', 64) : ''
    const key = this.tunnels.get(tunnel)?.get(keyId)
    if (key === undefined)
      return this.authFailed(socket, `unknown tunnel or key ${tunnel}/${keyId}`)
    if (Date.now() > key.notAfter) return this.authFailed(socket, `stale key ${tunnel}/${keyId}`)
    const fields: ProofFields = {
      tunnel,
      key: keyId,
      role,
      flow,
      session: sessionId,
      edgeNonce,
      connectorNonce,
    }
    if (!sameProof(proof(key.secret, 'connector', fields), message.proof)) {
      return this.authFailed(socket, `wrong proof for ${tunnel}/${keyId}`)
    }
    if (role === 'control') {
      const list = this.sessions.get(tunnel) ?? []
      if (list.length >= this.maxConnectorsPerTunnel) {
        throw new TunnelLimitError(`tunnel "${tunnel}" already has ${list.length} connectors`)
      }
      const session: Session = {
        id: randomBytes(12).toString('base64url'),
        tunnel,
        key: keyId,
        socket,
        pending: new Set(),
      }
      const welcome = proof(key.secret, 'edge', { ...fields, session: session.id })
      socket.write(encode({ t: 'welcome', session: session.id, proof: welcome }))
      // A connector that stops answering pings is gone.
      socket.setTimeout(45_000, () => socket.destroy())
      list.push(session)
      this.sessions.set(tunnel, list)
      this.log(
        `[wharf:tunnel] connector joined tunnel ${tunnel} from ${socket.remoteAddress ?? '?'} (${list.length} live)`
      )
      socket.once('close', () => this.dropSession(session))
      return false
    }
    const pending = this.pending.get(flow)
    if (
      pending === undefined ||
      pending.session.id !== sessionId ||
      pending.session.tunnel !== tunnel
    ) {
      throw new TunnelProtocolError('no such flow is waiting')
    }
    socket.write(
      encode({ t: 'welcome', session: sessionId, proof: proof(key.secret, 'edge', fields) })
    )
    reader.detach()
    socket.setTimeout(this.flowIdleTimeoutMs, () => socket.destroy())
    pending.resolve(socket)
    return true
  }

  private control(socket: tls.TLSSocket, message: Message): void {
    if (message.t === 'pong') return
    if (message.t !== 'refuse') throw new TunnelProtocolError(`unexpected ${message.t}`)
    const flow = integer(message, 'flow', 1, MAX_FLOW_ID)
    const pending = this.pending.get(flow)
    if (pending === undefined || pending.session.socket !== socket) return
    this.refused++
    const reason = typeof message.message === 'string' ? message.message.slice(0, 512) : 'refused'
    const code = typeof message.code === 'string' ? message.code.slice(0, 64) : 'ERR_TUNNEL_FLOW'
    pending.reject(new TunnelFlowError(reason, { connectorCode: code }))
  }

  private dropSession(session: Session): void {
    const list = (this.sessions.get(session.tunnel) ?? []).filter((s) => s !== session)
    if (list.length === 0) this.sessions.delete(session.tunnel)
    else this.sessions.set(session.tunnel, list)
    for (const flow of [...session.pending]) {
      this.pending
        .get(flow)
        ?.reject(new TunnelFlowError('the connector went away before the flow opened'))
    }
    if (!this.closed) {
      this.log(`[wharf:tunnel] connector left tunnel ${session.tunnel} (${list.length} live)`)
    }
  }
}
