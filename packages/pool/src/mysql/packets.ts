/**
 * MySQL packet framing: a 3-byte length and a sequence id, payloads of 16 MiB - 1 or more split
 * across packets (a full-length packet is followed by another, possibly empty). Also the small
 * encoders (length-encoded integers and strings, OK / ERR / EOF) both sides need.
 */
import { ProtocolError } from '../errors.js'

/** The largest payload of one physical packet; a payload this long continues in the next one. */
export const MAX_PACKET = 0xffffff

export const CAP = {
  LONG_PASSWORD: 1,
  FOUND_ROWS: 2,
  LONG_FLAG: 4,
  CONNECT_WITH_DB: 8,
  NO_SCHEMA: 16,
  COMPRESS: 32,
  ODBC: 64,
  LOCAL_FILES: 128,
  IGNORE_SPACE: 256,
  PROTOCOL_41: 512,
  INTERACTIVE: 1024,
  SSL: 2048,
  IGNORE_SIGPIPE: 4096,
  TRANSACTIONS: 8192,
  RESERVED: 16384,
  SECURE_CONNECTION: 32768,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
} as const

export const STATUS = {
  IN_TRANS: 0x0001,
  AUTOCOMMIT: 0x0002,
  MORE_RESULTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
} as const

export const COM = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  PING: 0x0e,
  CHANGE_USER: 0x11,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  RESET_CONNECTION: 0x1f,
} as const

export interface Packet {
  /** Sequence id of the first physical packet. */
  readonly seq: number
  /** Sequence id of the last physical packet (differs for payloads of 16 MiB - 1 and more). */
  readonly lastSeq: number
  readonly payload: Buffer
  /**
   * The packet as framed on the wire (header and payload), when it was one physical packet: a
   * response whose sequence ids already match the client's is forwarded as these bytes.
   */
  readonly raw: Buffer | undefined
}

/** Cuts a byte stream into logical packets, joining split ones; bounded by `maxPayloadBytes`. */
export class PacketReader {
  private chunks: Buffer[] = []
  private buffered = 0
  private parts: Buffer[] = []
  private partsBytes = 0
  private firstSeq = -1

  constructor(private readonly maxPayloadBytes: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** Bytes received but not yet returned as packets (e.g. after a TLS upgrade point). */
  get pending(): number {
    return this.buffered + this.partsBytes
  }

  /** The next whole packet, or undefined until more bytes arrive. Throws ProtocolError. */
  next(): Packet | undefined {
    for (;;) {
      if (this.buffered < 4) return undefined
      let buf = this.chunks[0] ?? Buffer.alloc(0)
      if (buf.length < 4) buf = this.join()
      const length = buf.readUIntLE(0, 3)
      const seq = buf[3] ?? 0
      if (this.partsBytes + length > this.maxPayloadBytes) {
        throw new ProtocolError(
          `Got a packet bigger than 'max_allowed_packet' bytes (more than ${this.maxPayloadBytes})`
        )
      }
      // Chunks are joined only once the packet is whole: a 16 MiB packet in 64 KiB reads is
      // copied once, not once a read.
      if (this.buffered < 4 + length) return undefined
      if (buf.length < 4 + length) buf = this.join()
      const raw = buf.subarray(0, 4 + length)
      const payload = raw.subarray(4)
      const rest = buf.subarray(4 + length)
      if (rest.length > 0) this.chunks[0] = rest
      else this.chunks.shift()
      this.buffered -= 4 + length
      if (this.firstSeq < 0) this.firstSeq = seq
      if (length === MAX_PACKET) {
        this.parts.push(payload)
        this.partsBytes += length
        continue
      }
      const single = this.parts.length === 0
      const whole = single ? payload : Buffer.concat([...this.parts, payload])
      const packet = {
        seq: this.firstSeq,
        lastSeq: seq,
        payload: whole,
        raw: single ? raw : undefined,
      }
      this.parts = []
      this.partsBytes = 0
      this.firstSeq = -1
      return packet
    }
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks)
    this.chunks = [all]
    return all
  }

  /** Takes the unparsed bytes (e.g. a TLS ClientHello that arrived with the SSL request). */
  drain(): Buffer {
    const out = Buffer.concat(this.chunks)
    this.chunks = []
    this.buffered = 0
    return out
  }
}

/**
 * Frames `payload` from sequence id `seq`, splitting at 16 MiB - 1 (and adding the empty packet a
 * payload of an exact multiple needs). Returns the frames and the next sequence id.
 */
export function frame(payload: Buffer, seq: number): { bytes: Buffer[]; next: number } {
  const bytes: Buffer[] = []
  let at = 0
  let s = seq & 0xff
  for (;;) {
    const length = Math.min(MAX_PACKET, payload.length - at)
    const head = Buffer.allocUnsafe(4)
    head.writeUIntLE(length, 0, 3)
    head[3] = s
    s = (s + 1) & 0xff
    bytes.push(head, payload.subarray(at, at + length))
    at += length
    if (length < MAX_PACKET) break
  }
  return { bytes, next: s }
}

/**
 * `payload` framed from sequence id `seq` as one buffer (header and payload together), for a
 * single write: a header written apart from its payload leaves as a TCP segment of its own.
 */
export function framed(payload: Buffer, seq: number): Buffer {
  if (payload.length >= MAX_PACKET) return Buffer.concat(frame(payload, seq).bytes)
  const out = Buffer.allocUnsafe(4 + payload.length)
  out.writeUIntLE(payload.length, 0, 3)
  out[3] = seq & 0xff
  payload.copy(out, 4)
  return out
}

/** A bounds-checked reader over one payload; running off the end is a ProtocolError. */
export class Cursor {
  at = 0
  constructor(readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new ProtocolError('malformed packet: truncated')
  }

  get left(): number {
    return this.buf.length - this.at
  }

  u8(): number {
    this.need(1)
    return this.buf[this.at++] ?? 0
  }

  u16(): number {
    this.need(2)
    const v = this.buf.readUInt16LE(this.at)
    this.at += 2
    return v
  }

  u32(): number {
    this.need(4)
    const v = this.buf.readUInt32LE(this.at)
    this.at += 4
    return v
  }

  bytes(n: number): Buffer {
    this.need(n)
    const v = this.buf.subarray(this.at, this.at + n)
    this.at += n
    return v
  }

  /** Length-encoded integer; NULL (0xfb) reads as -1. Values past 2^53 are refused. */
  lenenc(): number {
    const first = this.u8()
    if (first < 0xfb) return first
    if (first === 0xfb) return -1
    if (first === 0xfc) return this.u16()
    if (first === 0xfd) {
      this.need(3)
      const v = this.buf.readUIntLE(this.at, 3)
      this.at += 3
      return v
    }
    if (first === 0xfe) {
      this.need(8)
      const v = this.buf.readBigUInt64LE(this.at)
      this.at += 8
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError('malformed packet: length')
      return Number(v)
    }
    throw new ProtocolError('malformed packet: bad length-encoded integer')
  }

  lenencBytes(): Buffer {
    const n = this.lenenc()
    return n < 0 ? Buffer.alloc(0) : this.bytes(n)
  }

  /** A NUL-terminated string (or the rest, if `orRest` and there is no NUL). */
  nul(orRest = false): Buffer {
    const end = this.buf.indexOf(0, this.at)
    if (end < 0) {
      if (!orRest) throw new ProtocolError('malformed packet: unterminated string')
      return this.bytes(this.left)
    }
    const v = this.buf.subarray(this.at, end)
    this.at = end + 1
    return v
  }
}

export function lenencInt(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n])
  if (n <= 0xffff) {
    const b = Buffer.alloc(3)
    b[0] = 0xfc
    b.writeUInt16LE(n, 1)
    return b
  }
  if (n <= 0xffffff) {
    const b = Buffer.alloc(4)
    b[0] = 0xfd
    b.writeUIntLE(n, 1, 3)
    return b
  }
  const b = Buffer.alloc(9)
  b[0] = 0xfe
  b.writeBigUInt64LE(BigInt(n), 1)
  return b
}

export function lenencString(s: Buffer | string): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  return Buffer.concat([lenencInt(b.length), b])
}

export function okPacket(status: number, affectedRows = 0, insertId = 0, warnings = 0): Buffer {
  const tail = Buffer.alloc(4)
  tail.writeUInt16LE(status, 0)
  tail.writeUInt16LE(warnings, 2)
  return Buffer.concat([Buffer.from([0x00]), lenencInt(affectedRows), lenencInt(insertId), tail])
}

export function eofPacket(status: number, warnings = 0): Buffer {
  const b = Buffer.alloc(5)
  b[0] = 0xfe
  b.writeUInt16LE(warnings, 1)
  b.writeUInt16LE(status, 3)
  return b
}

/** An ERR packet (protocol 4.1: with `#` and the SQLSTATE). */
export function errPacket(code: number, sqlState: string, message: string): Buffer {
  const head = Buffer.alloc(3)
  head[0] = 0xff
  head.writeUInt16LE(code, 1)
  return Buffer.concat([
    head,
    Buffer.from(`#${sqlState.slice(0, 5).padEnd(5, '0')}`),
    Buffer.from(message),
  ])
}

export interface ServerError {
  readonly code: number
  readonly sqlState: string
  readonly message: string
}

export function parseErr(payload: Buffer): ServerError {
  const c = new Cursor(payload)
  c.u8()
  const code = c.left >= 2 ? c.u16() : 0
  let sqlState = 'HY000'
  if (c.left >= 6 && payload[c.at] === 0x23) {
    c.u8()
    sqlState = c.bytes(5).toString('latin1')
  }
  return { code, sqlState, message: c.bytes(c.left).toString('utf8') }
}

/** Status flags of an OK packet (protocol 4.1). */
export function okStatus(payload: Buffer): number {
  const c = new Cursor(payload)
  c.u8()
  c.lenenc()
  c.lenenc()
  return c.left >= 2 ? c.u16() : 0
}

/** An EOF packet: 0xfe and shorter than 9 bytes (a row can start with 0xfe only if longer). */
export function isEof(payload: Buffer): boolean {
  return payload[0] === 0xfe && payload.length < 9
}

export function eofStatus(payload: Buffer): number {
  return payload.length >= 5 ? payload.readUInt16LE(3) : 0
}
