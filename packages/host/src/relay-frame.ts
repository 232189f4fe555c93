/**
 * The frames of the dial relay (dial-relay.ts, runtime/relay-client.ts): the first bytes of a
 * loopback connection from an isolated runtime to the supervisor. The runtime names its target
 * once, the supervisor answers once, and then the connection carries the Worker's bytes.
 *
 * Request (runtime to supervisor), big-endian:
 *   secret (32 bytes) | port u16 | host length u16 | via length u8 | host (UTF-8) | via (UTF-8)
 * Reply (supervisor to runtime):
 *   0x00: connected, the relayed bytes follow
 *   0x01 | reason length u16 | worker message length u16 (0xffff: none) | reason | worker message,
 *        then the supervisor closes the connection
 *
 * The supervisor parses requests as hostile input: every length is bounded before it is used.
 */
import { timingSafeEqual } from 'node:crypto'

export const SECRET_BYTES = 32
const FIXED = SECRET_BYTES + 2 + 2 + 1
/** Host names are at most 300 characters (the broker's own check); UTF-8 may take 4 bytes each. */
const MAX_HOST_BYTES = 1200
const MAX_VIA_BYTES = 255
/** The longest request a supervisor ever needs to buffer. */
export const MAX_REQUEST_BYTES = FIXED + MAX_HOST_BYTES + MAX_VIA_BYTES
/** Reasons and worker messages are cut to this many bytes (a reply is a few hundred bytes). */
const MAX_TEXT_BYTES = 4096
const NO_TEXT = 0xffff

export const STATUS_OK = 0
export const STATUS_REFUSED = 1

export interface RelayTarget {
  readonly hostname: string
  readonly port: number
  readonly via?: string
}

export function encodeRequest(secret: Buffer, target: RelayTarget): Buffer {
  const host = Buffer.from(target.hostname, 'utf8')
  const via = target.via === undefined ? Buffer.alloc(0) : Buffer.from(target.via, 'utf8')
  if (host.length > MAX_HOST_BYTES || via.length > MAX_VIA_BYTES) {
    throw new RangeError('the dial target is too long for the relay')
  }
  const out = Buffer.allocUnsafe(FIXED + host.length + via.length)
  secret.copy(out, 0, 0, SECRET_BYTES)
  out.writeUInt16BE(target.port & 0xffff, SECRET_BYTES)
  out.writeUInt16BE(host.length, SECRET_BYTES + 2)
  out.writeUInt8(via.length, SECRET_BYTES + 4)
  host.copy(out, FIXED)
  via.copy(out, FIXED + host.length)
  return out
}

export type ParsedRequest =
  | { readonly kind: 'partial' }
  | { readonly kind: 'bad'; readonly why: string }
  | { readonly kind: 'ok'; readonly target: RelayTarget; readonly used: number }

/** Parses the start of `data`; `partial` asks for more bytes (the caller bounds how many). */
export function parseRequest(data: Buffer, secret: Buffer): ParsedRequest {
  if (data.length < FIXED) return { kind: 'partial' }
  // Constant time: the secret is all that keeps other processes of the namespace out.
  if (!timingSafeEqual(data.subarray(0, SECRET_BYTES), secret)) {
    return { kind: 'bad', why: 'wrong secret' }
  }
  const port = data.readUInt16BE(SECRET_BYTES)
  const hostLength = data.readUInt16BE(SECRET_BYTES + 2)
  const viaLength = data.readUInt8(SECRET_BYTES + 4)
  if (hostLength === 0 || hostLength > MAX_HOST_BYTES) return { kind: 'bad', why: 'host length' }
  const used = FIXED + hostLength + viaLength
  if (data.length < used) return { kind: 'partial' }
  const hostname = data.toString('utf8', FIXED, FIXED + hostLength)
  const via = viaLength === 0 ? undefined : data.toString('utf8', FIXED + hostLength, used)
  return { kind: 'ok', target: { hostname, port, ...(via === undefined ? {} : { via }) }, used }
}

function cut(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  return bytes.length <= MAX_TEXT_BYTES ? bytes : bytes.subarray(0, MAX_TEXT_BYTES)
}

export function encodeRefusal(reason: string, workerMessage?: string): Buffer {
  const r = cut(reason)
  const w = workerMessage === undefined ? undefined : cut(workerMessage)
  const out = Buffer.allocUnsafe(5 + r.length + (w?.length ?? 0))
  out.writeUInt8(STATUS_REFUSED, 0)
  out.writeUInt16BE(r.length, 1)
  out.writeUInt16BE(w === undefined ? NO_TEXT : w.length, 3)
  r.copy(out, 5)
  w?.copy(out, 5 + r.length)
  return out
}

export type ParsedReply =
  | { readonly kind: 'partial' }
  | { readonly kind: 'bad' }
  | { readonly kind: 'ok'; readonly used: number }
  | {
      readonly kind: 'refused'
      readonly reason: string
      readonly workerMessage?: string
    }

/** Parses the supervisor's reply (the runtime's side; still bounded, never trusted blindly). */
export function parseReply(data: Buffer): ParsedReply {
  if (data.length < 1) return { kind: 'partial' }
  const status = data.readUInt8(0)
  if (status === STATUS_OK) return { kind: 'ok', used: 1 }
  if (status !== STATUS_REFUSED) return { kind: 'bad' }
  if (data.length < 5) return { kind: 'partial' }
  const reasonLength = data.readUInt16BE(1)
  const workerLength = data.readUInt16BE(3)
  const w = workerLength === NO_TEXT ? 0 : workerLength
  if (reasonLength > MAX_TEXT_BYTES || w > MAX_TEXT_BYTES) return { kind: 'bad' }
  if (data.length < 5 + reasonLength + w) return { kind: 'partial' }
  const reason = data.toString('utf8', 5, 5 + reasonLength)
  return workerLength === NO_TEXT
    ? { kind: 'refused', reason }
    : {
        kind: 'refused',
        reason,
        workerMessage: data.toString('utf8', 5 + reasonLength, 5 + reasonLength + w),
      }
}

/** The longest reply a runtime ever needs to buffer. */
export const MAX_REPLY_BYTES = 5 + 2 * MAX_TEXT_BYTES
