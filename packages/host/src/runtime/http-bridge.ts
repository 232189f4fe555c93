/**
 * node:http <-> WHATWG Request/Response inside the runtime process, streaming both ways with
 * backpressure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'

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
  return new Request(origin + (req.url ?? '/'), {
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

function writeHead(res: ServerResponse, response: Response): void {
  res.statusCode = response.status
  if (response.statusText !== '') res.statusMessage = response.statusText
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value)
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

const nextTurn = (): Promise<null> => new Promise((resolve) => setImmediate(resolve, null))

/** Streams `response` into `res`. Resolves when the body is fully written or the client left. */
export async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  writeHead(res, response)
  const body = response.body
  if (body === null) {
    res.end()
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
    const soon = await Promise.race([next, nextTurn()])
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
