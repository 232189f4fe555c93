/**
 * One runtime process per Worker version. The supervisor owns the listening socket and hands
 * each accepted connection (its file descriptor) to the current runtime, so requests never cross
 * a process or thread boundary, and a reload swaps processes without refusing a connection.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { DialBroker } from './broker.js'
import { WharfError } from './errors.js'
import type { Isolation } from './isolation.js'
import type { DialReply, FromRuntime, RuntimeData, ToRuntime } from './protocol.js'
import type { Route } from './tunnels.js'

const ENTRY = fileURLToPath(new URL('./runtime/child.js', import.meta.url))
const KILL_GRACE_MS = 2000
const MAX_REASON_BYTES = 4096

/** What `wharf serve` adds to a runtime process (`wharf dev` passes none). */
export interface WorkerProcessOptions {
  /** Extra Node flags, e.g. `--max-old-space-size`. */
  readonly execArgv?: readonly string[]
  /** Answers dial requests instead of this process's own broker (host-wide socket limits). */
  readonly dial?: (message: unknown, reply: (answer: DialReply, socket?: Socket) => void) => void
  /** Every other message from the runtime (ticks, socket closes). */
  readonly onMessage?: (message: FromRuntime) => void
  /** Opens fd 4 in the runtime: its watchdog writes why it stopped the process there. */
  readonly reasonPipe?: boolean
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

  private readonly broker: DialBroker

  constructor(
    data: RuntimeData,
    isolation: Isolation,
    routes?: ReadonlyMap<string, Route>,
    options: WorkerProcessOptions = {}
  ) {
    // The policy lives here, outside the runtime process: the runtime can only ask.
    this.broker = DialBroker.forRuntime(data, routes)
    const [wrapper, ...wrapperArgs] = isolation.wrapper
    // Workers code is built for workerd: packages that publish a Workers build under the
    // "workerd"/"worker" export conditions (pg-cloudflare, postgres.js) must resolve to it, for
    // require() too (the loader hooks cover import() only on Node 20).
    const node = [
      ...process.execArgv,
      ...(options.execArgv ?? []),
      '--conditions=workerd',
      '--conditions=worker',
      ENTRY,
    ]
    this.child = spawn(
      wrapper ?? process.execPath,
      wrapper === undefined ? node : [...wrapperArgs, process.execPath, ...node],
      {
        stdio: options.reasonPipe
          ? ['ignore', 'inherit', 'inherit', 'ipc', 'pipe']
          : ['ignore', 'inherit', 'inherit', 'ipc'],
      }
    )
    const reasons = this.child.stdio[4]
    reasons?.on('data', (chunk: Buffer) => {
      if (this.reason.length < MAX_REASON_BYTES) this.reason += chunk.toString('utf8')
    })
    reasons?.on('error', () => undefined)
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true
        this.exitSignal = signal
        resolve(code)
        this.onExit?.(code)
      })
    })
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.on('message', (message: FromRuntime) => {
        if (DialBroker.matches(message)) {
          const reply = (answer: DialReply, socket?: Socket): void => {
            if (!this.send(answer, socket)) socket?.destroy()
          }
          if (options.dial) options.dial(message, reply)
          else void this.broker.handle(message, reply)
        } else if (message.t === 'ready') resolve()
        else if (message.t === 'loadError') {
          reject(
            new WharfError(
              // Only the host's own start-up codes; anything else the runtime says is a load error.
              message.code === 'ERR_WHARF_STARTUP' ? message.code : 'ERR_WHARF_WORKER_LOAD',
              `the Worker module failed to load:\n${message.message}`
            )
          )
        } else options.onMessage?.(message)
      })
      void this.exit.then((code) => reject(new Error(`the Worker process exited (code ${code})`)))
    })
    this.ready.catch(() => undefined)
    this.child.on('error', (error) => console.error('[wharf:error] Worker process:', error))
    this.send({ t: 'init', data: { ...data, brokered: isolation.kind === 'netns' } })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  private send(message: ToRuntime, handle?: Socket): boolean {
    if (this.exited || !this.child.connected) return false
    this.child.send(message, handle, (error) => {
      if (error) handle?.destroy()
    })
    return true
  }

  /** Gives an accepted connection to this runtime (closed if the runtime is gone). */
  /** Like handOff, but leaves the socket alone (for another runtime) when this one is gone. */
  tryHandOff(socket: Socket): boolean {
    return this.send({ t: 'conn' }, socket)
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

  async terminate(): Promise<void> {
    this.onExit = undefined
    if (this.exited) return
    this.child.kill('SIGTERM')
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
