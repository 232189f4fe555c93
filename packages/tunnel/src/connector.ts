/**
 * The connector: runs inside the private network and only dials out. It keeps one control
 * connection to the edge, and for each flow the edge asks for it checks its own ingress rules
 * (after its own DNS lookup), dials the checked address, then opens a data connection to the edge
 * for that flow alone. It reconnects with exponential backoff and jitter.
 */
import net from 'node:net'
import tls from 'node:tls'
import { newNonce, proof, sameProof, type ProofFields } from './auth.js'
import {
  TunnelAuthError,
  TunnelConfigError,
  TunnelIngressDeniedError,
  TunnelProtocolError,
} from './errors.js'
import { encode, FrameReader, integer, text, type Message } from './frames.js'
import { parseIngress, resolveTarget, type IngressRule, type Lookup } from './ingress.js'
import { parseToken, type TunnelToken } from './token.js'

export interface TunnelConnectorOptions {
  /** `host:port`, `[v6]:port` or `tls://host:port` of the edge's tunnel listener. */
  readonly edge: string
  readonly token: string
  /** The ingress rules (see ingress.ts); without any, nothing is reachable. */
  readonly ingress: unknown
  /** Extra CA certificates (PEM) trusted for the edge's certificate. */
  readonly ca?: string | readonly string[]
  /** Name the edge's certificate must carry (default: the edge's host). */
  readonly servername?: string
  /** The connector's DNS for names the edge asks for (default: the system's). */
  readonly lookup?: Lookup
  /** How long that lookup may take (default 5000 ms); past it the flow is refused. */
  readonly lookupTimeoutMs?: number
  readonly targetConnectTimeoutMs?: number
  readonly maxFlows?: number
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
  readonly log?: (line: string) => void
}

export type ConnectorState = 'connecting' | 'connected' | 'waiting' | 'stopped'

interface EdgeAddress {
  readonly host: string
  readonly port: number
}

export function parseEdge(edge: string): EdgeAddress {
  const bare = edge.replace(/^tls:\/\//, '').replace(/\/$/, '')
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(bare)
  const port = Number(match?.[3])
  if (match === null || port < 1 || port > 65535) {
    throw new TunnelConfigError(`--edge must be HOST:PORT or tls://HOST:PORT, not "${edge}"`)
  }
  return { host: match[1] ?? match[2] ?? '', port }
}

export class TunnelConnector {
  private readonly token: TunnelToken
  private readonly edge: EdgeAddress
  private readonly rules: IngressRule[]
  private readonly log: (line: string) => void
  private control: tls.TLSSocket | undefined
  private session = ''
  private flows = 0
  private attempt = 0
  private retry: NodeJS.Timeout | undefined
  private tlsSession: Buffer | undefined
  private stateValue: ConnectorState = 'connecting'
  private readonly connectedWaiters = new Set<() => void>()
  private readonly secureContext: tls.SecureContext

  constructor(private readonly options: TunnelConnectorOptions) {
    this.token = parseToken(options.token)
    this.edge = parseEdge(options.edge)
    this.rules = parseIngress(options.ingress)
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`))
    // Built once: parsing the trust store per connection costs more than the handshake itself.
    this.secureContext = tls.createSecureContext({
      minVersion: 'TLSv1.2',
      ...(options.ca === undefined
        ? {}
        : { ca: [...tls.rootCertificates, ...[options.ca].flat()] }),
    })
  }

  get state(): ConnectorState {
    return this.stateValue
  }

  /** Resolves once the control connection is up (or at once if it is). */
  connected(timeoutMs = 10_000): Promise<void> {
    if (this.stateValue === 'connected') return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedWaiters.delete(done)
        reject(new Error(`the connector did not reach the edge within ${timeoutMs} ms`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      this.connectedWaiters.add(done)
    })
  }

  start(): this {
    this.connect()
    return this
  }

  stop(): void {
    this.stateValue = 'stopped'
    clearTimeout(this.retry)
    this.control?.destroy()
  }

  private dialEdge(): tls.TLSSocket {
    const socket = tls.connect({
      host: this.edge.host,
      port: this.edge.port,
      servername:
        net.isIP(this.options.servername ?? this.edge.host) === 0
          ? (this.options.servername ?? this.edge.host)
          : undefined,
      secureContext: this.secureContext,
      // The edge's certificate is always verified.
      rejectUnauthorized: true,
      session: this.tlsSession,
      // Node passes this on to the TLSSocket (a FIN travels as a FIN); its types omit it.
      allowHalfOpen: true,
    } as tls.ConnectionOptions)
    socket.setNoDelay(true)
    return socket
  }

  /**
   * Runs the challenge-response on a fresh edge connection; resolves with the edge's welcome once
   * the edge has proved it knows the secret too.
   */
  private handshake(
    socket: tls.TLSSocket,
    role: 'control' | 'data',
    flow: number,
    onMessage?: (message: Message) => void
  ): Promise<{ session: string; reader: FrameReader }> {
    return new Promise((resolve, reject) => {
      let stage: 'challenge' | 'welcome' | 'open' = 'challenge'
      let fields: ProofFields | undefined
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new TunnelProtocolError('the edge did not complete the handshake in time'))
      }, 10_000)
      socket.once('close', () => {
        clearTimeout(timer)
        if (stage !== 'open')
          reject(new TunnelProtocolError('the edge closed the connection during the handshake'))
      })
      socket.once('session', (session: Buffer) => {
        this.tlsSession = session
      })
      const reader = new FrameReader(
        socket,
        (message) => {
          try {
            if (message.t === 'error') {
              const code = typeof message.code === 'string' ? message.code : ''
              const reason =
                typeof message.message === 'string' ? message.message.slice(0, 512) : 'refused'
              throw code === 'ERR_TUNNEL_AUTH'
                ? new TunnelAuthError(`the edge refused: ${reason}`)
                : new TunnelProtocolError(`the edge refused: ${reason}`)
            }
            if (stage === 'challenge') {
              if (message.t !== 'challenge') throw new TunnelProtocolError('expected a challenge')
              fields = {
                tunnel: this.token.tunnel,
                key: this.token.key,
                role,
                flow,
                session: role === 'data' ? this.session : '',
                edgeNonce: text(message, 'nonce', 64),
                connectorNonce: newNonce(),
              }
              socket.write(
                encode({
                  t: 'hello',
                  tunnel: fields.tunnel,
                  key: fields.key,
                  role,
                  ...(role === 'data' ? { flow, session: this.session } : {}),
                  nonce: fields.connectorNonce,
                  proof: proof(this.token.secret, 'connector', fields),
                })
              )
              stage = 'welcome'
              return
            }
            if (stage === 'welcome') {
              if (message.t !== 'welcome' || fields === undefined)
                throw new TunnelProtocolError('expected welcome')
              const session = text(message, 'session', 64)
              const expected = proof(this.token.secret, 'edge', { ...fields, session })
              if (!sameProof(expected, message.proof)) {
                throw new TunnelAuthError('the edge could not prove it knows the tunnel secret')
              }
              stage = 'open'
              clearTimeout(timer)
              // A data connection is a raw byte pipe from here on.
              if (role === 'data') reader.detach()
              resolve({ session, reader })
              return
            }
            onMessage?.(message)
          } catch (error) {
            socket.destroy()
            reject(error)
          }
        },
        (error) => {
          socket.destroy()
          reject(error)
        }
      )
    })
  }

  private connect(): void {
    if (this.stateValue === 'stopped') return
    this.stateValue = 'connecting'
    const socket = this.dialEdge()
    this.control = socket
    socket.on('error', (error: Error) => {
      if (this.stateValue !== 'stopped')
        this.log(`[wharf:tunnel] edge connection: ${error.message}`)
    })
    socket.once('close', () => this.scheduleReconnect())
    this.handshake(socket, 'control', 0, (message) => this.onControl(socket, message)).then(
      ({ session }) => {
        this.session = session
        this.attempt = 0
        this.stateValue = 'connected'
        socket.setTimeout(45_000, () => socket.destroy())
        this.log(
          `[wharf:tunnel] connected to the edge ${this.options.edge} as tunnel ${this.token.tunnel}`
        )
        for (const waiter of this.connectedWaiters) waiter()
        this.connectedWaiters.clear()
      },
      (error: Error) => {
        this.log(`[wharf:tunnel] handshake failed: ${error.message}`)
        socket.destroy()
      }
    )
  }

  private scheduleReconnect(): void {
    if (this.stateValue === 'stopped') return
    this.stateValue = 'waiting'
    const initial = this.options.backoffInitialMs ?? 250
    const max = this.options.backoffMaxMs ?? 30_000
    // Full jitter: connectors that lost the edge together do not come back together.
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 16))
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    this.attempt++
    this.retry = setTimeout(() => this.connect(), delay)
  }

  private onControl(socket: tls.TLSSocket, message: Message): void {
    if (message.t === 'ping') {
      socket.write(encode({ t: 'pong' }))
      return
    }
    if (message.t !== 'open') throw new TunnelProtocolError(`unexpected ${message.t}`)
    const flow = integer(message, 'flow', 1, 2 ** 31 - 1)
    let host: string
    let port: number
    try {
      host = text(message, 'host', 255)
      port = integer(message, 'port', 1, 65535)
    } catch (error) {
      // A target that cannot even be named is refused like one outside the rules; the
      // connection and its other flows stay up.
      const denied = new TunnelIngressDeniedError(
        `the connector's ingress rules do not allow this target (${(error as Error).message})`
      )
      socket.write(encode({ t: 'refuse', flow, code: denied.code, message: denied.message }))
      return
    }
    void this.openFlow(socket, flow, host, port)
  }

  private async openFlow(
    control: tls.TLSSocket,
    flow: number,
    host: string,
    port: number
  ): Promise<void> {
    const refuse = (code: string, reason: string): void => {
      if (control.writable) control.write(encode({ t: 'refuse', flow, code, message: reason }))
    }
    if (this.flows >= (this.options.maxFlows ?? 1024)) {
      refuse('ERR_TUNNEL_LIMIT', 'the connector has too many flows open')
      return
    }
    this.flows++
    let target: net.Socket | undefined
    let data: tls.TLSSocket | undefined
    const release = (): void => {
      this.flows--
    }
    try {
      const checked = await resolveTarget(
        this.rules,
        host,
        port,
        this.options.lookup,
        this.options.lookupTimeoutMs
      )
      target = await dialTarget(
        checked.address,
        checked.port,
        this.options.targetConnectTimeoutMs ?? 10_000
      )
      data = this.dialEdge()
      data.on('error', () => undefined)
      await this.handshake(data, 'data', flow)
    } catch (error) {
      target?.destroy()
      data?.destroy()
      release()
      const e = error as Error & { code?: string }
      refuse(e.code ?? 'ERR_TUNNEL_FLOW', e.message)
      return
    }
    splice(target, data, release)
  }
}

function dialTarget(address: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, allowHalfOpen: true })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`connect to ${address}:${port} timed out`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.setNoDelay(true)
      resolve(socket)
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(new Error(`connect to ${address}:${port} failed: ${error.message}`))
    })
  })
}

/** Pipes both ways with backpressure; a FIN travels as a FIN, a reset or error destroys both. */
function splice(a: net.Socket, b: net.Socket, onClosed: () => void): void {
  let open = 2
  const closed = (): void => {
    if (--open === 0) onClosed()
  }
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.on('error', () => to.destroy())
    from.once('close', (hadError) => {
      if (hadError) to.destroy()
      else to.end()
      closed()
    })
    from.pipe(to)
  }
}
