/**
 * The queue of origin replies the session expects, in order, one entry per request it sent (or
 * answered itself). Each entry says what to do with its reply, like PgBouncer's RA_* actions:
 * `forward` it to the client, `skip` it (the pooler injected the request, e.g. a Parse on a
 * connection that lacked the statement), or `fake` it (the pooler answers in the origin's
 * place, e.g. ParseComplete for a statement already prepared there, or a refusal).
 */
import type { Frame } from './wire.js'

export type ReplyKind =
  'parse' | 'bind' | 'close' | 'describeS' | 'describeP' | 'execute' | 'sync' | 'query' | 'function'

export type ReplyAction = 'forward' | 'skip' | 'fake'

interface Expected {
  kind: ReplyKind
  readonly action: ReplyAction
  /** For `fake`: the reply, sent when the entry reaches the head of the queue. */
  readonly reply?: Buffer
}

/** Bounded by the client's own pipelining: each entry is one message it sent. */
export class ReplyQueue {
  private readonly queue: Expected[] = []

  constructor(
    /** Sends bytes to the client, in order. */
    private readonly send: (data: Buffer) => void
  ) {}

  get length(): number {
    return this.queue.length
  }

  forward(kind: ReplyKind): void {
    this.queue.push({ kind, action: 'forward' })
  }

  skip(kind: ReplyKind): void {
    this.queue.push({ kind, action: 'skip' })
  }

  /** The pooler answers `kind` itself, in order with the origin's replies. */
  fake(kind: ReplyKind, reply: Buffer): void {
    this.queue.push({ kind, action: 'fake', reply })
    this.flushFakes()
  }

  clear(): void {
    this.queue.length = 0
  }

  /** For NODE_DEBUG traces. */
  describe(): string {
    return this.queue.map((e) => `${e.kind}:${e.action}`).join(',')
  }

  private flushFakes(): void {
    for (let head = this.queue[0]; head?.action === 'fake'; head = this.queue[0]) {
      this.queue.shift()
      if (head.reply) this.send(head.reply)
    }
  }

  /**
   * Routes one origin reply to the client (or not) and advances the queue. Returns true for
   * ReadyForQuery: the batch up to the Sync (or the simple query) is over.
   */
  onOriginFrame(frame: Frame): boolean {
    const type = frame.type
    // Asynchronous messages belong to no request.
    if (type === 'N' || type === 'A' || type === 'S') {
      this.send(frame.raw)
      return false
    }
    this.flushFakes()
    const head = this.queue[0]
    if (!head) {
      // Nothing was asked (e.g. a FATAL before shutdown): pass it on.
      this.send(frame.raw)
      return false
    }
    if (type === 'E') {
      this.send(frame.raw)
      if (head.kind === 'query' || head.kind === 'function') return false
      // Extended protocol: the server now skips everything up to the next Sync.
      while (this.queue.length > 0 && this.queue[0]?.kind !== 'sync') this.queue.shift()
      return false
    }
    if (type === 'Z') {
      while (this.queue.length > 0) {
        const k = this.queue.shift()?.kind
        if (k === 'sync' || k === 'query' || k === 'function') break
      }
      this.send(frame.raw)
      this.flushFakes()
      return true
    }
    if (head.action !== 'skip') this.send(frame.raw)
    let done = false
    switch (head.kind) {
      case 'parse':
        done = type === '1'
        break
      case 'bind':
        done = type === '2'
        break
      case 'close':
        done = type === '3'
        break
      case 'describeS':
        if (type === 't') head.kind = 'describeP'
        break
      case 'describeP':
        done = type === 'T' || type === 'n'
        break
      case 'execute':
        done = type === 'C' || type === 'I' || type === 's'
        break
      default:
        break
    }
    if (done) {
      this.queue.shift()
      this.flushFakes()
    }
    return false
  }
}
