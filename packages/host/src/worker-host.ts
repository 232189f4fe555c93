/**
 * Main-thread side of one Worker thread: starts it, forwards HTTP exchanges to it and streams
 * the answers back, with flow control both ways. The thread is disposable: hot reload and crashes
 * replace it; in-flight requests of a crashed thread get a 500 (or a reset if headers went out).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Worker } from 'node:worker_threads'
import { WharfError } from './errors.js'
import type { FromThread, ThreadData, ToThread } from './protocol.js'

const REQUEST_WINDOW = 1 << 20
const ENTRY = new URL('./thread/entry.js', import.meta.url)

interface Pending {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  unacked: number
  finished: boolean
}

export class WorkerThread {
  private readonly worker: Worker
  private readonly pending = new Map<number, Pending>()
  /** Requests whose scope (response + waitUntil) has not ended yet. */
  private live = 0
  private nextId = 1
  private exited = false
  private idleWaiter: (() => void) | undefined
  readonly ready: Promise<void>
  onExit: ((code: number) => void) | undefined

  constructor(data: ThreadData) {
    this.worker = new Worker(ENTRY, { workerData: data, stdout: false, stderr: false })
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject)
      this.worker.once('exit', (code) =>
        reject(new Error(`the Worker thread exited (code ${code})`))
      )
      const onMessage = (message: FromThread): void => {
        if (message.t === 'ready') resolve()
        else if (message.t === 'loadError') {
          reject(
            new WharfError(
              'ERR_WHARF_WORKER_LOAD',
              `the Worker module failed to load:\n${message.message}`
            )
          )
        }
      }
      this.worker.on('message', onMessage)
    })
    this.ready.catch(() => undefined)
    this.worker.on('message', (message: FromThread) => this.onMessage(message))
    this.worker.on('error', (error) => {
      console.error('[wharf:error] the Worker thread crashed:', error)
    })
    this.worker.on('exit', (code) => {
      this.exited = true
      for (const [id, p] of this.pending) this.failExchange(id, p, 'the Worker thread exited')
      this.live = 0
      this.idleWaiter?.()
      this.onExit?.(code)
    })
  }

  private send(message: ToThread, transfer?: ArrayBuffer[]): void {
    if (!this.exited) this.worker.postMessage(message, transfer ?? [])
  }

  /** Hands one HTTP exchange to the thread. `origin` is e.g. `http://127.0.0.1:8787`. */
  dispatch(req: IncomingMessage, res: ServerResponse, origin: string): void {
    const id = this.nextId++
    if (this.exited) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('wharf: the Worker is not running\n')
      return
    }
    const p: Pending = { req, res, unacked: 0, finished: false }
    this.pending.set(id, p)
    this.live++
    const headers: [string, string][] = []
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? ''])
    }
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
    this.send({
      t: 'req',
      id,
      method: req.method ?? 'GET',
      url: origin + (req.url ?? '/'),
      headers,
      body: hasBody,
    })
    if (hasBody) {
      req.on('data', (chunk: Buffer) => {
        const copy = new Uint8Array(chunk)
        p.unacked += copy.byteLength
        if (p.unacked > REQUEST_WINDOW) req.pause()
        this.send({ t: 'body', id, chunk: copy }, [copy.buffer])
      })
      req.on('end', () => this.send({ t: 'bodyEnd', id }))
    }
    res.on('close', () => {
      if (!p.finished) {
        p.finished = true
        this.send({ t: 'abort', id })
      }
    })
  }

  private onMessage(message: FromThread): void {
    if (message.t === 'ready' || message.t === 'loadError') return
    if (message.t === 'done') {
      this.live--
      if (this.live <= 0) this.idleWaiter?.()
      return
    }
    const p = this.pending.get(message.id)
    if (p === undefined) return
    const { res } = p
    switch (message.t) {
      case 'head': {
        res.statusCode = message.status
        if (message.statusText !== '') res.statusMessage = message.statusText
        const grouped = new Map<string, string[]>()
        for (const [name, value] of message.headers) {
          const list = grouped.get(name)
          if (list) list.push(value)
          else grouped.set(name, [value])
        }
        try {
          for (const [name, values] of grouped)
            res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values)
        } catch (error) {
          this.failExchange(message.id, p, `invalid response header: ${(error as Error).message}`)
          return
        }
        if (message.end) {
          this.finish(message.id, p)
          res.end(message.chunk)
        } else if (message.chunk) this.write(message.id, p, message.chunk)
        break
      }
      case 'chunk':
        this.write(message.id, p, message.chunk)
        break
      case 'end':
        this.finish(message.id, p)
        res.end()
        break
      case 'fail':
        this.failExchange(message.id, p, message.stack)
        break
      case 'bodyAck':
        p.unacked -= message.bytes
        if (p.unacked <= REQUEST_WINDOW && p.req.isPaused()) p.req.resume()
        break
    }
  }

  private write(id: number, p: Pending, chunk: Uint8Array): void {
    const bytes = chunk.byteLength
    p.res.write(chunk, () => this.send({ t: 'ack', id, bytes }))
  }

  private finish(id: number, p: Pending): void {
    p.finished = true
    this.pending.delete(id)
  }

  private failExchange(id: number, p: Pending, detail: string): void {
    this.finish(id, p)
    const { res } = p
    if (res.headersSent) {
      res.destroy()
      return
    }
    const body = `Internal Server Error\n\n${detail}\n`
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(body)
  }

  /** Resolves once no request of this thread is live (or after `timeoutMs`). */
  async drained(timeoutMs: number): Promise<void> {
    if (this.live <= 0 || this.exited) return
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.idleWaiter = resolve
      timer = setTimeout(resolve, timeoutMs)
    })
    clearTimeout(timer)
  }

  async terminate(): Promise<void> {
    this.onExit = undefined
    await this.worker.terminate()
  }
}
