// A TCP proxy on 127.0.0.1 that puts its upstream "far away": every byte takes `delayMs` to cross
// in each direction, and a new connection costs one round trip before the client's first byte can
// arrive (the SYN / SYN-ACK the client never waits for, because it connects to us locally). The
// benchmarks use it to model an origin database 2 × delayMs of round trip away.
//
// Buffers are bounded: when more than `maxQueuedBytes` wait in one direction, the sending side is
// paused until the queue drains below half of it, so a fast sender and a slow receiver cannot grow
// memory without limit.
import net from 'node:net'
import { once } from 'node:events'

export interface DelayProxyOptions {
  /** Where connections go (normally 127.0.0.1). */
  readonly upstreamHost?: string
  readonly upstreamPort: number
  /** One-way delay in ms (default 10, so 20 ms of round trip). 0..10_000. */
  readonly delayMs?: number
  /** Bytes queued per direction before the sender is paused (default 1 MiB). */
  readonly maxQueuedBytes?: number
  /** Connections at once; Node closes any beyond this at once (default 1,000). */
  readonly maxConnections?: number
}

export interface DelayProxyStats {
  /** Connections accepted so far. */
  accepted: number
  /** Connections open now. */
  open: number
  /** The largest number of bytes seen queued in one direction of one connection. */
  maxQueued: number
  /** Times a sender was paused because its queue was full. */
  pauses: number
}

export interface DelayProxy {
  readonly port: number
  readonly address: string
  readonly stats: DelayProxyStats
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>
}

interface Item {
  readonly at: number
  readonly chunk: Buffer | null // null: the sender's FIN
}

/**
 * One direction of one connection: chunks read from `from` are written to `to` once `delayMs`
 * has passed (and never before `notBefore()`), in order, on one timer.
 */
class DelayedPipe {
  private readonly queue: Item[] = []
  private head = 0
  private queued = 0
  private timer: NodeJS.Timeout | undefined
  private paused = false
  private ended = false

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly delayMs: number,
    private readonly maxQueued: number,
    private readonly stats: DelayProxyStats,
    private readonly notBefore: () => number
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk))
    from.on('end', () => this.end())
  }

  /** The sender's FIN (or its close without one) travels like data; then `to` is ended. */
  end(): void {
    if (this.ended) return
    this.ended = true
    this.push(null)
  }

  private push(chunk: Buffer | null): void {
    const at = Math.max(performance.now() + this.delayMs, this.notBefore())
    this.queue.push({ at, chunk })
    if (chunk) {
      this.queued += chunk.byteLength
      if (this.queued > this.stats.maxQueued) this.stats.maxQueued = this.queued
      if (this.queued > this.maxQueued && !this.paused) {
        this.paused = true
        this.stats.pauses++
        this.from.pause()
      }
    }
    this.schedule()
  }

  private schedule(): void {
    const next = this.queue[this.head]
    if (this.timer || !next) return
    const wait = Math.max(0, next.at - performance.now())
    this.timer = setTimeout(() => this.flush(), wait)
  }

  private flush(): void {
    this.timer = undefined
    const now = performance.now()
    // 0.5 ms of slack: setTimeout may fire a little early, and a second timer for a sub-ms
    // remainder would cost more than it corrects.
    for (;;) {
      const item = this.queue[this.head]
      if (!item || item.at > now + 0.5) break
      this.head++
      const { chunk } = item
      if (chunk === null) {
        // Once our sender is gone for good, nothing more can come: end `to`, then close it when
        // its writes are out (the other direction has nowhere to deliver to).
        if (this.from.destroyed) this.to.end(() => this.to.destroy())
        else this.to.end()
        continue
      }
      this.queued -= chunk.byteLength
      if (!this.to.destroyed) this.to.write(chunk)
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    // Resume only once the queue is below half of its bound and the receiver keeps up.
    if (this.paused && this.queued <= this.maxQueued / 2) {
      if (this.to.writableNeedDrain) this.to.once('drain', () => this.resume())
      else this.resume()
    }
    this.schedule()
  }

  private resume(): void {
    if (!this.paused || this.queued > this.maxQueued / 2) return
    this.paused = false
    this.from.resume()
  }

  isEnded(): boolean {
    return this.ended
  }

  /** Everything queued, the FIN included, has been handed to `to`. */
  isDelivered(): boolean {
    return this.ended && this.head >= this.queue.length
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.queue.length = 0
    this.head = 0
    this.queued = 0
  }
}

/** Starts a delay proxy on 127.0.0.1 port 0. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const delayMs = options.delayMs ?? 10
  const maxQueued = options.maxQueuedBytes ?? 1024 * 1024
  const maxConnections = options.maxConnections ?? 1000
  if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > 10_000)
    throw new RangeError(`delayMs must be within 0..10000, got ${delayMs}`)
  if (!Number.isInteger(maxQueued) || maxQueued < 1024)
    throw new RangeError(`maxQueuedBytes must be an integer >= 1024, got ${maxQueued}`)
  if (!Number.isInteger(options.upstreamPort) || options.upstreamPort < 1)
    throw new RangeError(`upstreamPort must be a port number, got ${options.upstreamPort}`)
  const stats: DelayProxyStats = { accepted: 0, open: 0, maxQueued: 0, pauses: 0 }
  const live = new Set<net.Socket>()

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    stats.accepted++
    stats.open++
    const t0 = performance.now()
    const upstream = net.connect({
      host: options.upstreamHost ?? '127.0.0.1',
      port: options.upstreamPort,
      allowHalfOpen: true,
      noDelay: true,
    })
    client.setNoDelay(true)
    live.add(client)
    live.add(upstream)
    // The client believes it is connected now; in the modelled network its first byte leaves
    // after the SYN / SYN-ACK round trip and lands one more delay later.
    const up = new DelayedPipe(client, upstream, delayMs, maxQueued, stats, () => t0 + 3 * delayMs)
    // The server sees the connection one delay in: nothing it says lands before two delays.
    const down = new DelayedPipe(
      upstream,
      client,
      delayMs,
      maxQueued,
      stats,
      () => t0 + 2 * delayMs
    )
    let closed = 0
    const onClose = (from: DelayedPipe, other: net.Socket) => (): void => {
      if (++closed === 2) {
        up.stop()
        down.stop()
        live.delete(client)
        live.delete(upstream)
        stats.open--
        return
      }
      // One side is gone: what it sent still arrives (delayed), then the other side is closed.
      if (from.isEnded()) {
        if (from.isDelivered()) other.end(() => other.destroy())
      } else from.end()
    }
    client.on('error', () => client.destroy())
    upstream.on('error', () => upstream.destroy())
    client.once('close', onClose(up, upstream))
    upstream.once('close', onClose(down, client))
    client.resume()
  })
  server.maxConnections = maxConnections
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    address: `127.0.0.1:${port}`,
    stats,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of live) s.destroy()
      await closed
    },
  }
}
