/**
 * The tunnel's messages before a connection turns into a raw byte pipe: each is a 4-byte
 * big-endian length and a JSON object. Lengths are checked before anything is buffered, and
 * `detach()` hands back the bytes that followed the last message so the pipe loses none.
 */
import type { Duplex } from 'node:stream'
import { TunnelProtocolError } from './errors.js'

export const MAX_FRAME_BYTES = 16 * 1024

export type Message = { readonly t: string } & Readonly<Record<string, unknown>>

export function encode(message: Message): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8')
  if (body.length > MAX_FRAME_BYTES) throw new TunnelProtocolError('message too large')
  const frame = Buffer.allocUnsafe(4 + body.length)
  frame.writeUInt32BE(body.length, 0)
  body.copy(frame, 4)
  return frame
}

export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0)
  private detached = false
  private readonly onData = (chunk: Buffer): void => this.push(chunk)

  constructor(
    private readonly socket: Duplex,
    private readonly onMessage: (message: Message) => void,
    private readonly onError: (error: TunnelProtocolError) => void
  ) {
    socket.on('data', this.onData)
  }

  private push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk])
    while (!this.detached && this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0)
      if (length > MAX_FRAME_BYTES) {
        this.fail('message too large')
        return
      }
      if (this.buffered.length < 4 + length) {
        return
      }
      const body = this.buffered.subarray(4, 4 + length)
      this.buffered = this.buffered.subarray(4 + length)
      let message: unknown
      try {
        message = JSON.parse(body.toString('utf8'))
      } catch {
        this.fail('message is not JSON')
        return
      }
      if (
        message === null ||
        typeof message !== 'object' ||
        typeof (message as Message).t !== 'string'
      ) {
        this.fail('message has no type')
        return
      }
      this.onMessage(message as Message)
    }
  }

  private fail(reason: string): void {
    this.detach()
    this.onError(new TunnelProtocolError(reason))
  }

  /**
   * Stops reading messages; bytes already received after the last message go back to the socket,
   * which is left paused (`pipe()` or `resume()` it) so none are emitted to no listener.
   */
  detach(): void {
    if (this.detached) return
    this.detached = true
    this.socket.pause()
    this.socket.off('data', this.onData)
    if (this.buffered.length > 0) this.socket.unshift(this.buffered)
    this.buffered = Buffer.alloc(0)
  }
}

/** Reads a string field, or throws a protocol error naming it. */
export function text(message: Message, field: string, max = 256): string {
  const value = message[field]
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new TunnelProtocolError(`"${field}" must be a string of 1 to ${max} characters`)
  }
  return value
}

/** Reads an integer field within bounds, or throws a protocol error naming it. */
export function integer(message: Message, field: string, min: number, max: number): number {
  const value = message[field]
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TunnelProtocolError(`"${field}" must be an integer from ${min} to ${max}`)
  }
  return value
}
