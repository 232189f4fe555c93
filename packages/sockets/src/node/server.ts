/**
 * `net.Server`. workerd 1.20261117.1 constructs one and lets it `listen()`; Wharf runs Workers
 * that cannot accept TCP connections, so `listen()` fails with a typed error instead (see
 * docs/api.md, "node:net"). Construction and the option fields match workerd.
 *
 * @module
 */
import { EventEmitter } from 'node:events'
import * as E from './errors.js'

export interface ServerOptions {
  allowHalfOpen?: boolean
  highWaterMark?: number
  keepAlive?: boolean
  keepAliveInitialDelay?: number
  noDelay?: boolean
  pauseOnConnect?: boolean
}

export class Server extends EventEmitter {
  allowHalfOpen: boolean
  highWaterMark: number | undefined
  keepAlive: boolean
  keepAliveInitialDelay: number
  maxConnections: number | undefined = undefined
  noDelay: boolean
  pauseOnConnect: boolean

  constructor(
    options?: ServerOptions | ((...args: unknown[]) => void),
    listener?: (...args: unknown[]) => void
  ) {
    super()
    if (typeof options === 'function') {
      listener = options
      options = {}
    }
    const o = options ?? {}
    this.allowHalfOpen = Boolean(o.allowHalfOpen)
    this.highWaterMark = o.highWaterMark
    this.keepAlive = Boolean(o.keepAlive)
    this.keepAliveInitialDelay = o.keepAliveInitialDelay ?? 0
    this.noDelay = Boolean(o.noDelay)
    this.pauseOnConnect = Boolean(o.pauseOnConnect)
    if (listener) this.on('connection', listener)
  }

  /** Fails: emits `error` (ERR_WHARF_NET_SERVER_UNSUPPORTED) on the next tick. */
  listen(...args: unknown[]): this {
    const cb = args[args.length - 1]
    if (typeof cb === 'function') this.once('listening', cb as () => void)
    process.nextTick(() => this.emit('error', E.serverUnsupported()))
    return this
  }

  get listening(): boolean {
    return false
  }

  address(): null {
    return null
  }

  close(cb?: (error?: Error) => void): this {
    if (cb)
      process.nextTick(() =>
        cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' }))
      )
    return this
  }

  getConnections(cb: (error: Error | null, count: number) => void): this {
    process.nextTick(() => cb(null, 0))
    return this
  }

  ref(): this {
    return this
  }

  unref(): this {
    return this
  }
}

export function createServer(
  options?: ServerOptions | ((...args: unknown[]) => void),
  listener?: (...args: unknown[]) => void
): Server {
  return new Server(options, listener)
}
