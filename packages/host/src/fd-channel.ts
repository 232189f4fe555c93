/**
 * The dial broker's fast path between the supervisor and an isolated runtime: a SOCK_SEQPACKET
 * socket pair that carries small JSON messages, each with at most one file descriptor, and a
 * connect that makes no Node socket in the supervisor (it only passes the descriptor on). Both
 * come from the native module `native/fd-channel.c`, built by `scripts/build-native.mjs` (the
 * package's install step).
 *
 * Node's IPC channel passes one handle at a time and waits for the receiver's acknowledgement
 * before anything else it sends; with a `net.Socket` made in the supervisor for every dial, that
 * was most of the supervisor's CPU per request (docs/performance.md, "The fd channel"). Where
 * the module is missing (no compiler at install, not Linux) or `WHARF_FD_CHANNEL=off`, the host
 * uses the IPC channel as before: same behaviour, more CPU.
 */
import { createRequire } from 'node:module'
import net from 'node:net'
import { dirname } from 'node:path'
// The real process, by import: in a runtime, Worker code may replace globalThis.process.
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { getSystemErrorName } from 'node:util'

interface Native {
  socketPair(): [number, number]
  open(
    fd: number,
    onMessage: (text: string | null, fd: number) => void,
    onWritable: () => void
  ): object
  send(channel: object, text: string, fd: number): number
  close(channel: object): void
  connect(address: string, port: number, callback: (errno: number, fd: number) => void): object
  cancel(dial: object): void
  closeFd(fd: number): void
}

/** Longest message the channel carries (the native module's MAX_MESSAGE, less one). */
export const MAX_CHANNEL_MESSAGE = 8191
/** Replies waiting for room in the socket buffer; past this the channel is treated as broken. */
const MAX_QUEUED = 4096

const MODULE = new URL('../native/build/fd-channel.node', import.meta.url)

let loaded: Native | null | undefined
/** Why the native module is not in use, once `native()` found it missing. */
export let fdChannelUnavailable: string | undefined

function native(): Native | undefined {
  if (loaded !== undefined) return loaded ?? undefined
  loaded = null
  if (process.env.WHARF_FD_CHANNEL === 'off') fdChannelUnavailable = 'WHARF_FD_CHANNEL=off'
  else if (process.platform !== 'linux') fdChannelUnavailable = `not on ${process.platform}`
  else {
    try {
      loaded = createRequire(import.meta.url)(fileURLToPath(MODULE)) as Native
    } catch (error) {
      fdChannelUnavailable = `native/build/fd-channel.node: ${(error as Error).message.split('\n')[0]}`
    }
  }
  return loaded ?? undefined
}

/** Whether the fast path is available in this process. */
export function hasFdChannel(): boolean {
  return native() !== undefined
}

/** The directory the module loads from: a sandboxed runtime must be able to read it. */
export function fdChannelDirectory(): string {
  return dirname(fileURLToPath(MODULE))
}

/**
 * A connected descriptor this process holds only to pass it on. `destroy()` closes it (after a
 * send the receiver keeps its own copy), as `net.Socket#destroy()` would.
 */
export class PassableFd {
  private open = true
  constructor(readonly fd: number) {}
  destroy(): void {
    if (!this.open) return
    this.open = false
    native()?.closeFd(this.fd)
  }

  /** A Node socket that owns the descriptor from now on (this object no longer closes it). */
  toSocket(): net.Socket {
    this.open = false
    return socketFromFd(this.fd)
  }
}

/** A socket the broker hands over: a Node socket (a tunnel flow) or a bare descriptor. */
export type Passable = net.Socket | PassableFd

/** The descriptor under a passable, or undefined (a socket without one: closed meanwhile). */
export function descriptorOf(passable: Passable): number | undefined {
  if (passable instanceof PassableFd) return passable.fd
  const fd = (passable as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : undefined
}

/** A Node socket over a received descriptor (a TCP socket or a Unix one: a tunnel flow). */
export function socketFromFd(fd: number): net.Socket {
  // The options Node's IPC channel gives a received socket: @wharf/sockets sets the rest.
  return new net.Socket({ fd, readable: true, writable: true })
}

function connectError(errno: number, address: string, port: number): NodeJS.ErrnoException {
  let code = 'EIO'
  try {
    code = getSystemErrorName(-errno)
  } catch {
    // an errno Node has no name for: EIO stands in
  }
  const error: NodeJS.ErrnoException = new Error(`connect ${code} ${address}:${port}`)
  error.code = code
  error.errno = -errno
  error.syscall = 'connect'
  Object.assign(error, { address, port })
  return error
}

/**
 * Connects to a numeric address the caller has checked, without a Node socket: resolves with the
 * descriptor to pass on. Rejects with a `connect E…` error as `net.connect` would, and when
 * `signal` fires (the connection attempt is then closed).
 */
export function connectForPassing(
  address: string,
  port: number,
  signal: AbortSignal
): Promise<PassableFd> {
  const addon = native()
  if (addon === undefined) return Promise.reject(new Error('the fd channel is not available'))
  return new Promise((resolve, reject) => {
    let dial: object
    const onAbort = (): void => {
      addon.cancel(dial)
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    }
    try {
      dial = addon.connect(address, port, (errno, fd) => {
        signal.removeEventListener('abort', onAbort)
        if (errno === 0) resolve(new PassableFd(fd))
        else reject(connectError(errno, address, port))
      })
    } catch (error) {
      // socket() itself failed (EMFILE, say): the same shape as a connect failure.
      reject(new Error(`connect ${address}:${port}: ${(error as Error).message}`))
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * One end of a channel. Messages are JSON; what arrives is hostile until its receiver checks it
 * (a runtime shares its process with Worker code): text that is not JSON is dropped, and a
 * descriptor the receiver does not take is closed.
 */
export class FdChannel {
  private readonly handle: object
  private readonly addon: Native
  private readonly queue: { text: string; passable: Passable | undefined }[] = []
  private closed = false

  /**
   * Takes over `fd`. `onMessage` gets each message and the descriptor that came with it (or
   * undefined); it returns whether it took the descriptor, which is closed otherwise. `onClose`
   * runs once when the peer is gone or the channel broke.
   */
  constructor(
    fd: number,
    onMessage: (message: unknown, fd: number | undefined) => boolean,
    private readonly onClose: () => void = () => undefined
  ) {
    const addon = native()
    if (addon === undefined) throw new Error(`no fd channel: ${fdChannelUnavailable}`)
    this.addon = addon
    this.handle = addon.open(
      fd,
      (text, received) => {
        if (text === null) {
          this.end()
          return
        }
        let message: unknown
        try {
          message = JSON.parse(text)
        } catch {
          message = undefined
        }
        const taken =
          message !== undefined && onMessage(message, received >= 0 ? received : undefined)
        if (!taken && received >= 0) addon.closeFd(received)
      },
      () => this.flush()
    )
  }

  /** A new pair: this end (unopened) and the one for a child's stdio, both close-on-exec. */
  static pair(): [number, number] | undefined {
    return native()?.socketPair()
  }

  /** Closes a descriptor this process does not keep (the child's end once it is spawned). */
  static closeFd(fd: number): void {
    native()?.closeFd(fd)
  }

  /**
   * Sends `message`, and `passable`'s descriptor with it, which is then closed here (the peer
   * has its own). Returns false if the channel is closed or the message too long for it
   * (`passable` is then left to the caller).
   */
  send(message: object, passable?: Passable): boolean {
    if (this.closed) return false
    const text = JSON.stringify(message)
    if (text.length > MAX_CHANNEL_MESSAGE / 3 && Buffer.byteLength(text) > MAX_CHANNEL_MESSAGE)
      return false
    if (this.queue.length > 0) return this.enqueue(text, passable)
    return this.write(text, passable)
  }

  close(): void {
    if (this.closed) return
    this.end()
  }

  private write(text: string, passable: Passable | undefined): boolean {
    const status = this.sendNow(text, passable)
    if (status === 1) return this.enqueue(text, passable)
    if (status < 0) {
      this.end()
      return false
    }
    passable?.destroy()
    return true
  }

  /** The native send's status: 0 sent, 1 the buffer is full, below 0 the channel is broken. */
  private sendNow(text: string, passable: Passable | undefined): number {
    // A socket that closed before it could travel goes as no descriptor: a dial reply without
    // one is a failed dial to the runtime.
    const fd = passable === undefined ? -1 : (descriptorOf(passable) ?? -1)
    return this.addon.send(this.handle, text, fd)
  }

  /** Past MAX_QUEUED the channel ends, and `passable` is left to the caller, as send() says. */
  private enqueue(text: string, passable: Passable | undefined): boolean {
    if (this.queue.length >= MAX_QUEUED) {
      this.end()
      return false
    }
    this.queue.push({ text, passable })
    return true
  }

  private flush(): void {
    for (let next = this.queue[0]; next !== undefined && !this.closed; next = this.queue[0]) {
      const status = this.sendNow(next.text, next.passable)
      if (status === 1) return
      this.queue.shift()
      next.passable?.destroy()
      if (status < 0) this.end()
    }
  }

  private end(): void {
    if (this.closed) return
    this.closed = true
    this.addon.close(this.handle)
    for (const { passable } of this.queue.splice(0)) passable?.destroy()
    this.onClose()
  }
}
