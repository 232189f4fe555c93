/**
 * Postgres wire framing. Messages are `type byte + int32 length (including itself) + payload`;
 * the first message of a connection is untagged (`int32 length + int32 code + ...`). Every length
 * read from the wire is bounded before anything is allocated.
 */
import { ProtocolError } from '../errors.js'

export { ProtocolError }

export interface Frame {
  /** Message type byte as a char ('Q', 'P', 'Z', ...). */
  readonly type: string
  /** The whole message, header included, as received (forwarded without re-encoding). */
  readonly raw: Buffer
  /** The payload after the 5-byte header. */
  readonly body: Buffer
}

/** Accumulates bytes and cuts them into frames; bounded by `maxMessageBytes`. */
export class FrameReader {
  private chunks: Buffer[] = []
  private buffered = 0

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  private peek(n: number): Buffer | undefined {
    if (this.buffered < n) return undefined
    if (this.chunks[0] && this.chunks[0].length >= n) return this.chunks[0]
    const joined = Buffer.concat(this.chunks)
    this.chunks = [joined]
    return joined
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]
    if (first && first.length === n) {
      this.chunks.shift()
      this.buffered -= n
      return first
    }
    if (first && first.length > n) {
      this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return first.subarray(0, n)
    }
    const joined = Buffer.concat(this.chunks)
    this.chunks = joined.length > n ? [joined.subarray(n)] : []
    this.buffered -= n
    return joined.subarray(0, n)
  }

  /** The next tagged message, or undefined if incomplete. Throws ProtocolError on a bad length. */
  next(): Frame | undefined {
    const head = this.peek(5)
    if (!head) return undefined
    const length = head.readInt32BE(1)
    if (length < 4 || length > this.maxMessageBytes) {
      throw new ProtocolError(
        `message '${String.fromCharCode(head[0] ?? 0)}' declares ${length} bytes (limit ${this.maxMessageBytes})`
      )
    }
    if (this.buffered < length + 1) return undefined
    const raw = this.take(length + 1)
    return { type: String.fromCharCode(raw[0] ?? 0), raw, body: raw.subarray(5) }
  }

  /** The untagged first message (startup, SSLRequest, CancelRequest), or undefined if incomplete. */
  nextStartup(maxBytes = 10_000): Buffer | undefined {
    const head = this.peek(4)
    if (!head) return undefined
    const length = head.readInt32BE(0)
    if (length < 8 || length > maxBytes) {
      throw new ProtocolError(`startup packet declares ${length} bytes (limit ${maxBytes})`)
    }
    if (this.buffered < length) return undefined
    return this.take(length)
  }

  /** Bytes received and not yet cut into a frame (e.g. data pipelined after an SSLRequest). */
  get pending(): number {
    return this.buffered
  }

  /** Removes and returns those bytes (a TLS ClientHello that came with the SSLRequest). */
  takePending(): Buffer {
    const all = Buffer.concat(this.chunks)
    this.chunks = []
    this.buffered = 0
    return all
  }
}

// ---- reading payloads ---------------------------------------------------------------------

export class BodyReader {
  private offset = 0
  constructor(private readonly body: Buffer) {}

  int32(): number {
    if (this.offset + 4 > this.body.length) throw new ProtocolError('message truncated (int32)')
    const v = this.body.readInt32BE(this.offset)
    this.offset += 4
    return v
  }

  int16(): number {
    if (this.offset + 2 > this.body.length) throw new ProtocolError('message truncated (int16)')
    const v = this.body.readInt16BE(this.offset)
    this.offset += 2
    return v
  }

  /** Counts (parameters, formats, columns) are unsigned 16-bit on the wire: 0..65535. */
  uint16(): number {
    if (this.offset + 2 > this.body.length) throw new ProtocolError('message truncated (int16)')
    const v = this.body.readUInt16BE(this.offset)
    this.offset += 2
    return v
  }

  byte(): number {
    if (this.offset + 1 > this.body.length) throw new ProtocolError('message truncated (byte)')
    return this.body[this.offset++] ?? 0
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.offset)
    if (end < 0) throw new ProtocolError('message truncated (string)')
    const s = this.body.toString('utf8', this.offset, end)
    this.offset = end + 1
    return s
  }

  bytes(n: number): Buffer {
    if (n < 0 || this.offset + n > this.body.length)
      throw new ProtocolError('message truncated (bytes)')
    const b = this.body.subarray(this.offset, this.offset + n)
    this.offset += n
    return b
  }

  rest(): Buffer {
    const b = this.body.subarray(this.offset)
    this.offset = this.body.length
    return b
  }

  get remaining(): number {
    return this.body.length - this.offset
  }
}

// ---- writing messages ---------------------------------------------------------------------

/** Builds one tagged message from parts (strings are written as C strings). */
export class MessageWriter {
  private parts: Buffer[] = []
  private size = 0

  int32(v: number): this {
    const b = Buffer.allocUnsafe(4)
    b.writeInt32BE(v)
    return this.push(b)
  }

  int16(v: number): this {
    const b = Buffer.allocUnsafe(2)
    b.writeInt16BE(v)
    return this.push(b)
  }

  uint16(v: number): this {
    const b = Buffer.allocUnsafe(2)
    b.writeUInt16BE(v)
    return this.push(b)
  }

  byte(v: number): this {
    return this.push(Buffer.from([v]))
  }

  cstring(s: string): this {
    return this.push(Buffer.from(s + '\0', 'utf8'))
  }

  bytes(b: Buffer): this {
    return this.push(b)
  }

  private push(b: Buffer): this {
    this.parts.push(b)
    this.size += b.length
    return this
  }

  /** A tagged message. */
  build(type: string): Buffer {
    const head = Buffer.allocUnsafe(5)
    head[0] = type.charCodeAt(0)
    head.writeInt32BE(this.size + 4, 1)
    return Buffer.concat([head, ...this.parts], this.size + 5)
  }

  /** An untagged message (startup, SSLRequest, CancelRequest). */
  buildUntagged(): Buffer {
    const head = Buffer.allocUnsafe(4)
    head.writeInt32BE(this.size + 4)
    return Buffer.concat([head, ...this.parts], this.size + 4)
  }
}

export const SSL_REQUEST_CODE = 80877103
export const GSS_REQUEST_CODE = 80877104
export const CANCEL_REQUEST_CODE = 80877102
export const PROTOCOL_3_0 = 196608
