/**
 * One runtime process per Worker version. The supervisor owns the listening socket and hands
 * each accepted connection (its file descriptor) to the current runtime, so requests never cross
 * a process or thread boundary, and a reload swaps processes without refusing a connection.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import type { Writable } from 'node:stream'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DialBroker } from './broker.js'
import { WharfRuntimeExitError, loadError } from './errors.js'
import { FdChannel, PassableFd, fdChannelDirectory, type Passable } from './fd-channel.js'
import type { Isolation } from './isolation.js'
import type {
  DialReply,
  FromRuntime,
  InboundConnection,
  RuntimeData,
  RuntimeTiming,
  ToRuntime,
} from './protocol.js'
import { innerPid, runtimeCommand, workerPaths, type Sandbox } from './sandbox.js'
import type { Route } from './tunnels.js'

const ENTRY = fileURLToPath(new URL('./runtime/child.js', import.meta.url))
const HOST_ROOT = dirname(dirname(dirname(ENTRY)))
const KILL_GRACE_MS = 2000
const MAX_REASON_BYTES = 4096
/** Connections handed to the connect() handler and not yet answered, per runtime. */
const MAX_PENDING_INBOUND = 4096
/**
 * Node 22 carries AsyncLocalStorage (the request scope of every socket, fetch and waitUntil) on
 * promise hooks unless asked for AsyncContextFrame, which Node 24 uses by default: with it an
 * awaited promise costs about half the CPU there (docs/performance.md, "AsyncContextFrame on
 * Node 22").
 */
const ASYNC_CONTEXT_FRAME = process.allowedNodeEnvironmentFlags.has(
  '--experimental-async-context-frame'
)
  ? ['--experimental-async-context-frame']
  : []

/** What `wharf serve` adds to a runtime process (`wharf dev` passes none). */
export interface WorkerProcessOptions {
  /** Extra Node flags, e.g. `--max-old-space-size`. */
  readonly execArgv?: readonly string[]
  /** Answers dial requests instead of this process's own broker (host-wide socket limits). */
  readonly dial?: (message: unknown, reply: (answer: DialReply, socket?: Passable) => void) => void
  /** Every other message from the runtime (ticks, socket closes). */
  readonly onMessage?: (message: FromRuntime) => void
  /** Opens fd 4 in the runtime: its watchdog writes why it stopped the process there. */
  readonly reasonPipe?: boolean
  /** What the runtime may read besides the host's files (default: `workerPaths(input)`). */
  readonly workerPaths?: readonly string[]
}

function closeHandle(handle: unknown): void {
  const h = handle as { destroy?: () => void; close?: () => void } | undefined
  if (typeof h?.destroy === 'function') h.destroy()
  else if (typeof h?.close === 'function') h.close()
}

/** The runtime's timing figures, if they are two sane numbers (the runtime is not trusted). */
function runtimeTiming(value: unknown): RuntimeTiming | undefined {
  const v = value as { init?: unknown; loaded?: unknown } | null
  const ok = (n: unknown): n is number => typeof n === 'number' && n >= 0 && n < 1e9
  return typeof v === 'object' && v !== null && ok(v.init) && ok(v.loaded)
    ? { init: v.init, loaded: v.loaded }
    : undefined
}

export class WorkerProcess {
  private readonly child: ChildProcess
  private exited = false
  readonly ready: Promise<void>
  readonly exit: Promise<number | null>
  onExit: ((code: number | null) => void) | undefined
  /** The signal that ended the process, once it exited. */
  exitSignal: NodeJS.Signals | null = null
  /** What the runtime's watchdog wrote before it stopped the process (reasonPipe only). */
  reason = ''
  /** When the process was spawned (performance.now()), and the runtime's own timing once ready. */
  readonly spawnedAt = performance.now()
  timing: RuntimeTiming | undefined

  private broker: DialBroker | undefined
  /** The fd channel (isolated runtimes, where the native module is built), and its child's fd. */
  private channel: FdChannel | undefined
  private channelFd: number | undefined
  /** The runtime said it listens on the channel: messages with sockets go there from now. */
  private channelReady = false

  private readonly cleanup: () => void
  private readonly inboundWaiting = new Map<number, (ok: boolean | Error) => void>()
  private nextInbound = 0

  /**
   * Spawns a runtime process. With `input` it is initialised at once; without it (a spare,
   * `options.workerPaths` naming what it may read) it boots its own modules and waits for
   * `init()`, so a reload only pays for loading the Worker.
   */
  constructor(
    input: RuntimeData | undefined,
    private readonly isolation: Isolation,
    sandbox: Sandbox,
    private readonly routes?: ReadonlyMap<string, Route>,
    options: WorkerProcessOptions = {}
  ) {
    this.cleanup = () => undefined
    // Dials and passed sockets skip Node's IPC channel where they can (fd-channel.ts): isolated,
    // and sandboxed only under the seccomp filter (the runtime then loads a native module).
    const pair =
      isolation.kind === 'netns' && (sandbox.kind === 'off' || sandbox.seccomp !== undefined)
        ? FdChannel.pair()
        : undefined
    // Workers code is built for workerd: packages that publish a Workers build under the
    // "workerd"/"worker" export conditions (pg-cloudflare, postgres.js) must resolve to it, for
    // require() too (the loader hooks cover import() only on Node 20). Sandboxed, the host's own
    // execArgv (--inspect, --import …) stays out: it would widen what the runtime may do.
    const command = runtimeCommand(sandbox, {
      node: process.execPath,
      nodeArgs: [
        ...(sandbox.kind === 'off' ? process.execArgv : []),
        ...(options.execArgv ?? []),
        ...ASYNC_CONTEXT_FRAME,
        '--conditions=workerd',
        '--conditions=worker',
      ],
      entry: ENTRY,
      layout: {
        hostRoot: HOST_ROOT,
        worker: options.workerPaths ?? (input ? workerPaths(input) : []),
        ...(pair ? { native: fdChannelDirectory() } : {}),
      },
      isolated: isolation.kind === 'netns',
      wrapper: isolation.wrapper,
      // The reason pipe's writer is serve's watchdog thread.
      hostThreads: options.reasonPipe === true,
      seccompFd: options.reasonPipe ? 5 : 4,
    })
    const stdio: ('ignore' | 'inherit' | 'ipc' | 'pipe' | number)[] = [
      'ignore',
      'inherit',
      'inherit',
      'ipc',
    ]
    if (options.reasonPipe) stdio.push('pipe')
    const filterFd = command.seccomp ? stdio.push('pipe') - 1 : undefined
    if (pair) this.channelFd = stdio.push(pair[1]) - 1
    // A minimal environment, never the host's: Node adds only its IPC channel's variables.
    this.child = spawn(command.file, command.args, {
      stdio,
      env: command.env,
    })
    if (pair) {
      FdChannel.closeFd(pair[1])
      this.channel = new FdChannel(
        pair[0],
        (message) => {
          this.onChannelMessage(message, options)
          return false
        },
        () => {
          this.channel = undefined
          this.channelReady = false
        }
      )
    }
    // bwrap reads the filter to EOF before it starts Node; the pipe then closes on both sides.
    // Node opens each extra 'pipe' as a socket pair: writable from this side.
    const filter =
      filterFd === undefined ? undefined : (this.child.stdio[filterFd] as Writable | null)
    filter?.on('error', () => undefined)
    filter?.end(command.seccomp)
    const reasons = this.child.stdio[4]
    reasons?.on('data', (chunk: Buffer) => {
      if (this.reason.length < MAX_REASON_BYTES) this.reason += chunk.toString('utf8')
    })
    reasons?.on('error', () => undefined)
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true
        this.exitSignal = signal
        this.channel?.close()
        for (const answer of [...this.inboundWaiting.values()])
          answer(new WharfRuntimeExitError(code))
        this.cleanup()
        resolve(code)
        this.onExit?.(code)
      })
    })
    this.ready = new Promise<void>((resolve, reject) => {
      // Everything the runtime sends is hostile (Worker code shares its process): dial requests
      // are served; ready/loadError count once, before the Worker is serving; a handle the
      // runtime passes up is closed, never used; the rest goes to `onMessage` (wharf serve).
      let settled = false
      this.child.on('message', (raw: unknown, handle?: unknown) => {
        closeHandle(handle)
        if (DialBroker.matches(raw)) {
          // Answered on the channel it came on (hostile code may speak the IPC protocol).
          this.dial(raw, options, (answer, socket) => {
            if (!this.sendOnIpc(answer, socket)) socket?.destroy()
          })
          return
        }
        const message = raw as FromRuntime | null
        if (typeof message !== 'object' || message === null) return
        if (message.t === 'inbound') {
          const id = (message as { id?: unknown }).id
          const answer = typeof id === 'number' ? this.inboundWaiting.get(id) : undefined
          answer?.((message as { ok?: unknown }).ok === true)
          return
        }
        if (message.t === 'ready' || message.t === 'loadError') {
          if (settled) return
          settled = true
        }
        if (message.t === 'ready') {
          this.timing = runtimeTiming((message as { timing?: unknown }).timing)
          this.channelReady = this.channel !== undefined && message.channel === true
          resolve()
        } else if (message.t === 'loadError') {
          const code = (message as { code?: unknown }).code
          const text = (message as { message?: unknown }).message
          reject(
            loadError(code, `the Worker module failed to load:\n${String(text).slice(0, 100_000)}`)
          )
        } else options.onMessage?.(message)
      })
      void this.exit.then((code) => reject(new WharfRuntimeExitError(code)))
    })
    this.ready.catch(() => undefined)
    this.child.on('error', (error) => console.error('[wharf:error] Worker process:', error))
    if (input) this.init(input)
  }

  private dial(
    message: unknown,
    options: WorkerProcessOptions,
    reply: (answer: DialReply, socket?: Passable) => void
  ): void {
    if (options.dial) options.dial(message, reply)
    // Before init no Worker code has run: a dial request then is dropped.
    else if (this.broker) void this.broker.handle(message, reply)
  }

  /** Only dial requests come this way; the answer goes back on the channel it came on. */
  private onChannelMessage(message: unknown, options: WorkerProcessOptions): void {
    if (!DialBroker.matches(message)) return
    this.dial(message, options, (answer, socket) => {
      const sent = this.channel?.send(answer, socket) === true || this.sendOnIpc(answer, socket)
      if (!sent) socket?.destroy()
    })
  }

  /** Whether the process is still running (a spare may have died while it waited). */
  get alive(): boolean {
    return !this.exited
  }

  /** Gives the runtime its Worker version (and tunnel routes, if known only now); once only. */
  init(input: RuntimeData, routes: ReadonlyMap<string, Route> | undefined = this.routes): void {
    if (this.broker) throw new Error('the runtime is already initialised')
    // The policy lives here, outside the runtime process: the runtime can only ask.
    this.broker = DialBroker.forRuntime(input, routes)
    this.send({
      t: 'init',
      data: {
        ...input,
        brokered: this.isolation.kind === 'netns',
        ...(this.channelFd === undefined ? {} : { fdChannel: this.channelFd }),
      },
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /**
   * Sends on the fd channel once the runtime listens there (the init message, which can be
   * large, always goes on the IPC channel). False if the runtime is gone: `handle` is then the
   * caller's.
   */
  private send(message: ToRuntime, handle?: Passable): boolean {
    if (this.exited) return false
    if (this.channelReady && message.t !== 'init' && this.channel?.send(message, handle) === true)
      return true
    return this.sendOnIpc(message, handle)
  }

  private sendOnIpc(message: ToRuntime, handle?: Passable): boolean {
    if (this.exited || !this.child.connected) return false
    // A bare descriptor (the broker's fast connect) travels on the IPC channel as a socket.
    const socket = handle instanceof PassableFd ? handle.toSocket() : handle
    this.child.send(message, socket, (error) => {
      if (error) socket?.destroy()
    })
    return true
  }

  /** Gives an accepted connection to this runtime (closed if the runtime is gone). */
  /** Like handOff, but leaves the socket alone (for another runtime) when this one is gone. */
  tryHandOff(socket: Socket): boolean {
    return this.send({ t: 'conn' }, socket)
  }

  /** A service binding's fetch() connection: HTTP for the runtime's `entrypoint` handler. */
  handOffService(socket: Socket, entrypoint: string | undefined): boolean {
    return this.send({ t: 'conn', service: entrypoint === undefined ? {} : { entrypoint } }, socket)
  }

  /**
   * Gives `socket` to the runtime's connect() handler. Resolves true once the runtime took it,
   * false if it has no such handler (the socket is closed); rejects when `signal` fires, and with
   * WharfRuntimeExitError when the process exits first (`socket.destroyed` if it had left).
   */
  inbound(
    socket: Socket,
    info: Omit<InboundConnection, 't' | 'id'>,
    signal: AbortSignal
  ): Promise<boolean> {
    if (this.inboundWaiting.size >= MAX_PENDING_INBOUND) {
      socket.destroy()
      return Promise.resolve(false)
    }
    this.nextInbound = (this.nextInbound + 1) % 2 ** 31
    const id = this.nextInbound
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = (): void => {
        this.inboundWaiting.delete(id)
        reject(new Error('the Worker did not take the connection in time'))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.inboundWaiting.set(id, (ok) => {
        signal.removeEventListener('abort', onAbort)
        this.inboundWaiting.delete(id)
        if (ok instanceof Error) {
          socket.destroy()
          reject(ok)
        } else resolve(ok)
      })
      // Not sent: the process is gone, and the socket never left (another runtime may take it).
      if (!this.send({ t: 'inbound', id, ...info }, socket)) {
        signal.removeEventListener('abort', onAbort)
        this.inboundWaiting.delete(id)
        reject(new WharfRuntimeExitError(null))
      }
    })
  }

  handOff(socket: Socket): void {
    if (!this.send({ t: 'conn' }, socket)) socket.destroy()
  }

  /** Lets in-flight requests (and their waitUntil) finish, then the process exits. */
  async drain(timeoutMs: number): Promise<void> {
    this.onExit = undefined
    this.send({ t: 'drain' })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.exit, new Promise((r) => (timer = setTimeout(r, timeoutMs)))])
    clearTimeout(timer)
    await this.terminate()
  }

  /** SIGKILL now (bubblewrap's --die-with-parent takes the sandboxed Node with it). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL')
  }

  async terminate(): Promise<void> {
    this.onExit = undefined
    if (this.exited) return
    // Sandboxed, SIGTERM to bwrap would kill Node unannounced: Node's own handler flushes first.
    const pid = this.child.pid
    try {
      if (pid !== undefined) process.kill(innerPid(pid), 'SIGTERM')
    } catch {
      this.child.kill('SIGTERM')
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.exit,
      new Promise((r) => (timer = setTimeout(r, KILL_GRACE_MS))).then(() =>
        this.child.kill('SIGKILL')
      ),
    ])
    clearTimeout(timer)
    await this.exit
  }
}
