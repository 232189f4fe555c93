/**
 * `wharf pool --processes N`: one listening socket, N pooler processes accepting on it. Node 20's
 * `net` has no SO_REUSEPORT, so the primary binds and hands the server handle to each worker over
 * the IPC channel (as `cluster` does); the kernel gives each connection to one of them. Each
 * worker owns its origin connections, so the statement names it prepares never meet another's.
 * What crosses processes goes through the primary:
 *
 * - a CancelRequest reaches whichever process accepted its connection: the backend key's process
 *   id carries the index of the process that owns the session (bits 24-27), and the request is
 *   passed to that one; so does a MySQL `KILL`, whose connection id carries the index the same way;
 * - a write one process sees drops the cached results of its tables in every other process.
 */
import { fork, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { PoolConfigError } from '../errors.js'

/** Processes at most: the index lives in 4 bits of the backend key's process id. */
export const MAX_PROCESSES = 16
/** Where a worker learns its place: `INDEX/COUNT`. */
export const WORKER_ENV = 'WHARF_POOL_PROCESS'
const PID_SHIFT = 24
/** Tables named in one invalidation message at most (more: everything is dropped). */
const MAX_TABLES = 10_000

/** A session's backend-key process id: the owning process's index, then a counter. */
export function groupPid(index: number, counter: number): number {
  return (index << PID_SHIFT) | (counter % 2 ** PID_SHIFT)
}

/** The index of the process that owns the session with this backend-key process id. */
export function ownerOf(pid: number): number {
  return (pid >>> PID_SHIFT) & (MAX_PROCESSES - 1)
}

/** What a worker's pooler needs of its group (startPool's `processGroup`). */
export interface ProcessGroupLink {
  readonly index: number
  readonly count: number
  /** The listening server the primary handed over. */
  readonly server: net.Server
  /** A CancelRequest for a session another process owns. */
  forwardCancel(pid: number, secret: number): void
  /** A MySQL `KILL [QUERY] id` for a client another process owns (`ownerOf(id)`). */
  forwardKill(id: number, query: boolean): void
  /** Writes seen here: the other processes drop the same cached results. */
  broadcastInvalidate(tables: readonly string[] | 'all'): void
  /**
   * Called by the pooler once it listens on `server`: connections the primary accepted before it
   * closed its copy of the socket (kept until then, at most 1000) go to `start`, now and later.
   */
  takeHandedOver(start: (socket: net.Socket) => void): void
  /** Set by the pooler: a CancelRequest another process received for one of ours. */
  onCancel: ((pid: number, secret: number) => void) | undefined
  /** Set by the pooler: a `KILL` another process received for one of our clients. */
  onKill: ((id: number, query: boolean) => void) | undefined
  /** Set by the pooler: another process saw writes to these tables. */
  onInvalidate: ((tables: readonly string[] | 'all') => void) | undefined
}

type Message =
  | { readonly t: 'listen' }
  | { readonly t: 'socket' }
  | { readonly t: 'ready'; readonly url: string }
  | { readonly t: 'cancel'; readonly pid: number; readonly secret: number }
  | { readonly t: 'kill'; readonly id: number; readonly query: boolean }
  | { readonly t: 'invalidate'; readonly tables: readonly string[] | 'all' }

/** Checks a message from another process of the group (bounded, nothing else accepted). */
function parse(value: unknown): Message | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  switch (v.t) {
    case 'listen':
    case 'socket':
      return { t: v.t }
    case 'ready':
      return typeof v.url === 'string' ? { t: 'ready', url: v.url.slice(0, 4096) } : undefined
    case 'cancel':
      return Number.isInteger(v.pid) && Number.isInteger(v.secret)
        ? { t: 'cancel', pid: v.pid as number, secret: v.secret as number }
        : undefined
    case 'kill':
      return Number.isInteger(v.id) && typeof v.query === 'boolean'
        ? { t: 'kill', id: v.id as number, query: v.query }
        : undefined
    case 'invalidate': {
      const tables = v.tables
      if (tables === 'all') return { t: 'invalidate', tables }
      if (!Array.isArray(tables)) return undefined
      if (tables.length > MAX_TABLES) return { t: 'invalidate', tables: 'all' }
      if (!tables.every((x) => typeof x === 'string')) return undefined
      return { t: 'invalidate', tables: tables }
    }
    default:
      return undefined
  }
}

/** In a worker: waits for the primary's server handle and links this process to the group. */
export function joinGroup(
  index: number,
  count: number,
  timeoutMs = 30_000
): Promise<ProcessGroupLink> {
  const send = (message: Message): void => {
    if (process.connected) process.send?.(message)
  }
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new PoolConfigError(`${WORKER_ENV} is set but there is no IPC channel`))
      return
    }
    const timer = setTimeout(() => {
      process.off('message', onFirst)
      reject(new PoolConfigError('no listening socket from the primary process'))
    }, timeoutMs)
    const onFirst = (raw: unknown, handle: unknown): void => {
      if (parse(raw)?.t !== 'listen' || !(handle instanceof net.Server)) return
      clearTimeout(timer)
      process.off('message', onFirst)
      let early: net.Socket[] | undefined = []
      let start: ((socket: net.Socket) => void) | undefined
      const link: ProcessGroupLink = {
        index,
        count,
        server: handle,
        forwardCancel: (pid, secret) => send({ t: 'cancel', pid, secret }),
        forwardKill: (id, query) => send({ t: 'kill', id, query }),
        broadcastInvalidate: (tables) => send({ t: 'invalidate', tables }),
        takeHandedOver(consumer) {
          start = consumer
          for (const socket of early ?? []) consumer(socket)
          early = undefined
        },
        onCancel: undefined,
        onKill: undefined,
        onInvalidate: undefined,
      }
      process.on('message', (message: unknown, socket: unknown) => {
        const m = parse(message)
        // A connection the primary accepted before it closed its copy of the socket.
        if (m?.t === 'socket' && socket instanceof net.Socket) {
          if (start) start(socket)
          else if (early && early.length < 1000) early.push(socket)
          else socket.destroy()
        } else if (m?.t === 'cancel') link.onCancel?.(m.pid, m.secret)
        else if (m?.t === 'kill') link.onKill?.(m.id, m.query)
        else if (m?.t === 'invalidate') link.onInvalidate?.(m.tables)
      })
      resolve(link)
    }
    process.on('message', onFirst)
  })
}

/** In a worker, once serving: tells the primary (with the connection string to print). */
export function announceReady(url: string): void {
  if (process.connected) process.send?.({ t: 'ready', url } satisfies Message)
}

export interface PrimaryOptions {
  readonly host: string
  readonly port: number
  readonly label: string
  readonly count: number
  /** The worker's command line: this CLI's own arguments. */
  readonly argv: readonly string[]
  readonly log: (line: string) => void
  /** How long every worker may take to start (default 60 s). */
  readonly startTimeoutMs?: number
}

export interface RunningGroup {
  /** One worker's connection string (they are all the same). */
  readonly url: string
  /** Resolves when a worker exits on its own: the group is stopped then. */
  readonly failed: Promise<string>
  stop(): Promise<void>
}

/** In the primary: binds, starts the workers, hands them the server and relays between them. */
export async function startGroup(options: PrimaryOptions): Promise<RunningGroup> {
  const server = net.createServer({ pauseOnConnect: true })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new PoolConfigError(`cannot listen on ${options.label}: ${error.message}`, {
          cause: error,
        })
      )
    )
    server.listen(options.port, options.host, () => resolve())
  })
  const workers: ChildProcess[] = []
  let stopping = false
  let next = 0
  // Until the primary closes its copy, a connection it accepts goes to a worker.
  server.on('connection', (socket) => {
    const w = workers[next++ % workers.length]
    if (w?.connected) w.send({ t: 'socket' }, socket)
    else socket.destroy()
  })
  let fail: (why: string) => void = () => undefined
  const failed = new Promise<string>((resolve) => (fail = resolve))
  const stop = async (): Promise<void> => {
    stopping = true
    server.close()
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) {
              resolve()
              return
            }
            const kill = setTimeout(() => w.kill('SIGKILL'), 15_000)
            w.once('exit', () => {
              clearTimeout(kill)
              resolve()
            })
            w.kill('SIGTERM')
          })
      )
    )
  }
  const urls: Promise<string>[] = []
  for (let i = 0; i < options.count; i++) {
    const child = fork(process.argv[1] ?? '', options.argv, {
      env: { ...process.env, [WORKER_ENV]: `${i}/${options.count}` },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    })
    workers.push(child)
    urls.push(
      new Promise<string>((resolve, reject) => {
        child.on('message', (raw: unknown) => {
          const m = parse(raw)
          if (!m) return
          if (m.t === 'ready') resolve(m.url)
          else if (m.t === 'cancel' || m.t === 'kill') {
            const owner = workers[ownerOf(m.t === 'cancel' ? m.pid : m.id)]
            if (owner?.connected && owner !== child) owner.send(m)
          } else if (m.t === 'invalidate') {
            for (const w of workers) if (w !== child && w.connected) w.send(m)
          }
        })
        child.once('exit', (code, signal) => {
          const why = `process ${i} exited (${code ?? signal})`
          reject(new PoolConfigError(`wharf pool: ${why} while starting`))
          if (!stopping) {
            options.log(`[wharf:pool] ${why}: stopping the others`)
            fail(why)
          }
        })
      })
    )
    child.send({ t: 'listen' } satisfies Message, server)
  }
  let url: string
  try {
    const timeoutMs = options.startTimeoutMs ?? 60_000
    let timer: NodeJS.Timeout | undefined
    const all = await Promise.race([
      Promise.all(urls),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new PoolConfigError(`the pooler processes did not start in ${timeoutMs} ms`)),
          timeoutMs
        )
      }),
    ]).finally(() => clearTimeout(timer))
    url = all[0] ?? ''
  } catch (error) {
    await stop()
    throw error
  }
  // Every worker holds the socket now: the primary stops accepting on its copy.
  server.close()
  return { url, failed, stop }
}
