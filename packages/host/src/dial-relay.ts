/**
 * The dial relay: how an isolated runtime's connections reach the broker without the IPC channel.
 *
 * Passing a connected descriptor over Node's IPC channel costs a JSON message each way and an
 * acknowledgement per handle, and Node holds every later message until that acknowledgement
 * arrives: one dial at a time per runtime (docs/performance.md, section 2). Instead, the runtime
 * listens once on the loopback of its own network namespace and passes that one listening
 * socket to the supervisor at start-up. A dial is then a loopback connect from the runtime to
 * it, fully parallel, with the target in a first frame (relay-frame.ts). The supervisor accepts
 * it here, runs the very same broker decision as for an IPC dial (egress policy, limits, host
 * slots, tunnels), answers with a status frame, and relays the bytes both ways, FIN and RST
 * included, so the Worker's socket behaves as the direct one would.
 *
 * The listener lives in the runtime's namespace: nothing outside it can connect. Inside it only
 * the runtime runs, and the per-runtime secret keeps anything else out all the same. Every frame
 * is hostile input, and every wait and count is bounded.
 */
import type { Server, Socket } from 'node:net'
import type { DialReply, DialRequest } from './protocol.js'
import {
  MAX_REQUEST_BYTES,
  STATUS_OK,
  encodeRefusal,
  parseRequest,
  type RelayTarget,
} from './relay-frame.js'

export interface RelayLimits {
  /** How long a new connection may take to name its target. */
  readonly headerTimeoutMs: number
  /** Connections that have not named their target yet; more are closed at once. */
  readonly maxHandshakes: number
  /** Relayed connections open at once (established or dialing); more are closed at once. */
  readonly maxRelays: number
}

/** Answers one dial exactly once (the broker, or `wharf serve`'s host-wide slots before it). */
export type RelayDial = (
  request: DialRequest,
  reply: (answer: DialReply, socket?: Socket) => void
) => void

const OK = Buffer.from([STATUS_OK])
const EMPTY: Buffer = Buffer.alloc(0)

/** Closes `socket` with a TCP reset where it can (a tunnel flow's socket pair cannot). */
function reset(socket: Socket): void {
  if (socket.destroyed) return
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/** One direction of a relay: data with backpressure, then FIN; a reset is passed on as one. */
function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.destroyed && !to.write(chunk)) from.pause()
  })
  to.on('drain', () => from.resume())
  from.on('end', () => {
    if (!to.destroyed) to.end()
  })
  from.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET') reset(to)
    else to.destroy()
  })
  // Closed without its FIN (destroyed): the other side cannot go on either.
  from.on('close', () => {
    if (!from.readableEnded) to.destroy()
  })
}

export class DialRelay {
  private handshakes = 0
  private readonly relays = new Set<Socket>()
  private closed = false

  constructor(
    private readonly server: Server,
    private readonly secret: Buffer,
    private readonly dial: RelayDial,
    private readonly limits: RelayLimits
  ) {
    // Both directions end on their own: the Worker may half-close, as on a direct socket.
    ;(server as Server & { allowHalfOpen: boolean }).allowHalfOpen = true
    server.on('connection', (socket: Socket) => this.accept(socket))
    server.on('error', () => this.close())
  }

  /** Relayed connections open now (for tests and figures). */
  get size(): number {
    return this.relays.size
  }

  /** Stops accepting and ends every relay (the runtime is gone). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.server.close()
    for (const socket of this.relays) socket.destroy()
    this.relays.clear()
  }

  private accept(inner: Socket): void {
    inner.on('error', () => undefined)
    if (
      this.closed ||
      this.handshakes >= this.limits.maxHandshakes ||
      this.relays.size >= this.limits.maxRelays
    ) {
      inner.destroy()
      return
    }
    this.handshakes++
    inner.setNoDelay(true)
    let buffered: Buffer = EMPTY
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      this.handshakes--
      clearTimeout(timer)
      inner.off('data', onData)
      inner.off('end', onGone)
      inner.off('close', onGone)
    }
    const onGone = (): void => {
      settle()
      inner.destroy()
    }
    const timer = setTimeout(onGone, this.limits.headerTimeoutMs)
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const parsed = parseRequest(buffered, this.secret)
      if (parsed.kind === 'partial') {
        if (buffered.length >= MAX_REQUEST_BYTES) onGone()
        return
      }
      settle()
      if (parsed.kind === 'bad') {
        inner.destroy()
        return
      }
      inner.pause()
      // Bytes sent ahead of the reply are the Worker's: they follow the target upstream.
      if (buffered.length > parsed.used) inner.unshift(buffered.subarray(parsed.used))
      this.open(inner, parsed.target)
    }
    inner.on('data', onData)
    inner.on('end', onGone)
    inner.on('close', onGone)
  }

  private open(inner: Socket, target: RelayTarget): void {
    this.relays.add(inner)
    inner.once('close', () => this.relays.delete(inner))
    const request: DialRequest = {
      t: 'dial',
      id: 0,
      hostname: target.hostname,
      port: target.port,
      ...(target.via === undefined ? {} : { via: target.via }),
    }
    let answered = false
    this.dial(request, (answer, upstream) => {
      if (answered || inner.destroyed || this.closed) {
        upstream?.destroy()
        return
      }
      answered = true
      if (!answer.ok || upstream === undefined) {
        upstream?.destroy()
        inner.end(
          encodeRefusal(answer.reason ?? 'the host refused the connection', answer.workerMessage)
        )
        return
      }
      upstream.on('error', () => undefined)
      upstream.setNoDelay(true)
      inner.write(OK)
      forward(inner, upstream)
      forward(upstream, inner)
      inner.resume()
      upstream.resume()
    })
  }
}
