/**
 * node:http <-> WHATWG Request/Response inside the runtime process, streaming both ways with
 * backpressure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { observeConstruction } from './global-class.js'

/** A Response made from a string or bytes: its body stream as made, and what it holds. */
interface FixedBody {
  readonly stream: ReadableStream<Uint8Array>
  readonly chunk: string | Uint8Array
}

const fixedBodies = new WeakMap<Response, FixedBody>()
let tracking = false

/** The bytes `new Response(body)` holds for a buffer source, copied as undici copies them. */
function fixedChunk(body: unknown): string | Uint8Array | undefined {
  if (typeof body === 'string') return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0))
  if (ArrayBuffer.isView(body))
    return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength))
  return undefined
}

/**
 * Makes the global `Response` remember the bodies made from a string or bytes, so that
 * writeResponse sends them in one write instead of reading their stream (a reader, two reads and
 * a turn of the event loop per response). Only the construction is observed
 * (`observeConstruction`). Idempotent.
 */
export function trackFixedBodies(): void {
  if (tracking) return
  tracking = true
  globalThis.Response = observeConstruction(globalThis.Response, (response, [body]) => {
    const chunk = fixedChunk(body)
    if (chunk !== undefined && response.body !== null)
      fixedBodies.set(response, { stream: response.body, chunk })
  })
}

/**
 * The platform's class, taken before the Worker's globals are set up: the host's own requests
 * skip the construct trap of the global (request-cf.ts), which only the Worker's need.
 */
const NativeRequest = globalThis.Request

export function toRequest(req: IncomingMessage, origin: string): Request {
  const headers = new Headers()
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] ?? '', raw[i + 1] ?? '')
  const method = req.method ?? 'GET'
  const hasBody =
    method !== 'GET' &&
    method !== 'HEAD' &&
    (req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'))
  return new NativeRequest(origin + (req.url ?? '/'), {
    method,
    headers,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  })
}

/** Bytes the Worker enqueued, as a Uint8Array Node can write; workerd's error for anything else. */
function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (ArrayBuffer.isView(value))
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  throw new TypeError(
    'This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.'
  )
}

/**
 * Response headers workerd does not send as the Worker set them: the connection's own (hop by
 * hop) and the body's framing, which it derives from the body (a Worker's `content-length: 5`
 * on a two-byte body would otherwise leave the client waiting for three more).
 */
const HOST_FRAMED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
  'te',
  'trailer',
])

function writeHead(res: ServerResponse, response: Response): void {
  res.statusCode = response.status
  if (response.statusText !== '') res.statusMessage = response.statusText
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && !HOST_FRAMED.has(name)) res.setHeader(name, value)
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) res.setHeader('set-cookie', cookies)
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/** Streams `response` into `res`. Resolves when the body is fully written or the client left. */
export async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  writeHead(res, response)
  const body = response.body
  if (body === null) {
    res.end()
    return
  }
  const fixed = fixedBodies.get(response)
  if (fixed !== undefined && fixed.stream === body && !body.locked && !response.bodyUsed) {
    // What reading it would leave: the body used, its stream closed.
    body.cancel().catch(() => undefined)
    // Node sends no Content-Length for HEAD; workerd sends the body's.
    if (res.req.method === 'HEAD') res.setHeader('content-length', Buffer.byteLength(fixed.chunk))
    res.end(fixed.chunk)
    return
  }
  const reader = body.getReader()
  const onClose = (): void => {
    if (!res.writableFinished) reader.cancel().catch(() => undefined)
  }
  res.on('close', onClose)
  try {
    const first = await reader.read()
    if (first.done) {
      res.end()
      return
    }
    // Most bodies are one chunk: when the stream ends at once, send it with a Content-Length.
    const next = reader.read()
    let turn: NodeJS.Immediate | undefined
    const soon = await Promise.race([
      next,
      new Promise<null>((resolve) => (turn = setImmediate(resolve, null))),
    ])
    clearImmediate(turn)
    if (soon?.done === true) {
      res.end(bytes(first.value))
      return
    }
    if (!res.write(bytes(first.value))) await drained(res)
    let result = soon ?? (await next)
    while (!result.done) {
      if (res.destroyed) return
      if (!res.write(bytes(result.value))) await drained(res)
      result = await reader.read()
    }
    res.end()
  } finally {
    res.off('close', onClose)
  }
}
