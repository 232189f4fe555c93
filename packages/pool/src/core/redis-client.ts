/**
 * A small RESP2 client for the state Wharf shares through Redis (the pooler's query-cache store,
 * `wharf serve`'s cross-host socket limit). Hand-written rather than a dependency: it needs
 * pipelined commands, EVAL and one subscriber connection, each reply bounded in size and each
 * command in time, and nothing else.
 */
import net from 'node:net'
import { PoolConfigError } from '../errors.js'
import { urlHost } from './options.js'

export type Reply = Buffer | number | null | ReplyError | Reply[]

export class ReplyError extends Error {}

/** RESP2 reply parser over a growing buffer; `undefined` means "incomplete, wait for more". */
function parseReply(buf: Buffer, at: number): [Reply, number] | undefined {
  if (at >= buf.length) return undefined
  const eol = buf.indexOf('\r\n', at)
  if (eol < 0) return undefined
  const type = buf[at]
  const line = buf.toString('latin1', at + 1, eol)
  const next = eol + 2
  switch (type) {
    case 0x2b: // +
      return [Buffer.from(line, 'latin1'), next]
    case 0x2d: // -
      return [new ReplyError(line), next]
    case 0x3a: // :
      return [Number(line), next]
    case 0x24: {
      // $
      const len = Number(line)
      if (len < 0) return [null, next]
      if (buf.length < next + len + 2) return undefined
      return [buf.subarray(next, next + len), next + len + 2]
    }
    case 0x2a: {
      // *
      const n = Number(line)
      if (n < 0) return [null, next]
      const items: Reply[] = []
      let pos = next
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, pos)
        if (!r) return undefined
        items.push(r[0])
        pos = r[1]
      }
      return [items, pos]
    }
    default:
      throw new Error(`bad reply type byte ${String(type)} from redis`)
  }
}

function command(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** One connection, replies matched to commands in order; any failure drops it whole. */
export class RespConnection {
  private readonly socket: net.Socket
  private buf: Buffer = Buffer.alloc(0)
  private readonly waiting: ((reply: Reply | Error) => void)[] = []
  dead = false
  onPush: ((reply: Reply) => void) | undefined
  /** Called once when the connection is lost (or closed). */
  onDead: (() => void) | undefined

  constructor(
    host: string,
    port: number,
    private readonly maxReplyBytes: number
  ) {
    this.socket = net.connect({ host, port, noDelay: true })
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', () => this.fail(new Error('redis connection error')))
    this.socket.on('close', () => this.fail(new Error('redis connection closed')))
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    if (this.buf.length > this.maxReplyBytes) {
      this.fail(new Error('redis reply too large'))
      return
    }
    try {
      for (;;) {
        const r = parseReply(this.buf, 0)
        if (!r) break
        this.buf = this.buf.subarray(r[1])
        const resolve = this.waiting.shift()
        if (resolve) resolve(r[0])
        else this.onPush?.(r[0])
      }
    } catch (error) {
      this.fail(error as Error)
    }
  }

  private fail(error: Error): void {
    if (this.dead) return
    this.dead = true
    this.socket.destroy()
    for (const resolve of this.waiting.splice(0)) resolve(error)
    this.onDead?.()
  }

  close(): void {
    this.fail(new Error('closed'))
  }

  send(args: readonly (string | Buffer)[], timeoutMs: number): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('redis connection is down'))
    return new Promise((resolve, reject) => {
      // A late reply would answer the wrong command: a timeout drops the connection. After a
      // stall of this process the timer fires before the poll phase reads a reply that arrived
      // meanwhile, so the timeout is final only one turn later (setImmediate runs after poll).
      let answered = false
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (!answered) this.fail(new Error('redis timed out'))
        })
      }, timeoutMs)
      this.waiting.push((reply) => {
        answered = true
        clearTimeout(timer)
        if (reply instanceof Error) reject(reply)
        else resolve(reply)
      })
      this.socket.write(command(args))
    })
  }
}

/** The URL as it may appear in a log or an error: its password replaced by `***`. */
export function redactedUrl(text: string): string {
  try {
    const url = new URL(text)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return '(not a URL)'
  }
}

export interface RedisAddress {
  readonly host: string
  readonly port: number
  readonly password: string | undefined
  readonly db: number
}

/** `redis://[:password@]host:port[/db]`; `what` names the setting in the error. */
export function parseRedisUrl(text: string, what: string): RedisAddress {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new PoolConfigError(`${what} must be a URL like redis://127.0.0.1:6379`)
  }
  if (url.protocol !== 'redis:') {
    throw new PoolConfigError(`${what} must use redis:// (got ${url.protocol})`)
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0
  if (!Number.isInteger(db) || db < 0 || db > 10_000) {
    throw new PoolConfigError(`bad redis database number in ${redactedUrl(text)}`)
  }
  return {
    host: urlHost(url),
    port: url.port === '' ? 6379 : Number(url.port),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    db,
  }
}

/**
 * Commands over one connection, re-made on the next use after it drops; `open()` makes extra
 * authenticated connections (a subscriber).
 */
export class RedisClient {
  private conn: Promise<RespConnection> | undefined
  private closed = false

  constructor(
    private readonly address: RedisAddress,
    private readonly maxReplyBytes = 16 * 1024 * 1024
  ) {}

  /** A new connection, authenticated and on the URL's database. */
  async open(timeoutMs: number): Promise<RespConnection> {
    if (this.closed) throw new Error('the redis client is closed')
    const { host, port, password, db } = this.address
    const c = new RespConnection(host, port, this.maxReplyBytes)
    try {
      if (password !== undefined) {
        const r = await c.send(['AUTH', password], timeoutMs)
        if (r instanceof ReplyError) throw new PoolConfigError(`redis refused AUTH: ${r.message}`)
      }
      if (db !== 0) await c.send(['SELECT', String(db)], timeoutMs)
      return c
    } catch (error) {
      c.close()
      throw error
    }
  }

  /** The shared command connection (made, and checked with PING, when there is none). */
  async connection(timeoutMs: number): Promise<RespConnection> {
    const current = this.conn
    if (current) {
      const c = await current
      if (!c.dead) return c
    }
    const made = (async () => {
      const c = await this.open(timeoutMs)
      const pong = await c.send(['PING'], timeoutMs)
      if (pong instanceof ReplyError || this.closed) {
        c.close()
        throw new Error(
          pong instanceof ReplyError ? `redis: ${pong.message}` : 'the redis client is closed'
        )
      }
      return c
    })()
    this.conn = made
    made.catch(() => {
      if (this.conn === made) this.conn = undefined
    })
    return made
  }

  /** One command; a Redis error reply rejects. */
  async run(args: readonly (string | Buffer)[], timeoutMs = 2000): Promise<Reply> {
    const c = await this.connection(Math.max(timeoutMs, 1000))
    const r = await c.send(args, timeoutMs)
    if (r instanceof ReplyError) throw r
    return r
  }

  /** Closes the command connection; later commands reject. */
  async close(): Promise<void> {
    this.closed = true
    const c = this.conn
    this.conn = undefined
    if (c) (await c.catch(() => undefined))?.close()
  }
}
