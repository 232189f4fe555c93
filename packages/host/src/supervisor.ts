/**
 * One runtime process per Worker version. The supervisor owns the listening socket and hands
 * each accepted connection (its file descriptor) to the current runtime, so requests never cross
 * a process or thread boundary, and a reload swaps processes without refusing a connection.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DialBroker } from './broker.js'
import { WharfError } from './errors.js'
import type { Isolation } from './isolation.js'
import type { FromRuntime, RuntimeData, ToRuntime } from './protocol.js'
import { runtimeCommand, workerPaths, type Sandbox } from './sandbox.js'
import type { Route } from './tunnels.js'

const ENTRY = fileURLToPath(new URL('./runtime/child.js', import.meta.url))
const HOST_ROOT = dirname(dirname(dirname(ENTRY)))
const KILL_GRACE_MS = 2000

function closeHandle(handle: unknown): void {
  const h = handle as { destroy?: () => void; close?: () => void } | undefined
  if (typeof h?.destroy === 'function') h.destroy()
  else if (typeof h?.close === 'function') h.close()
}

export class WorkerProcess {
  private readonly child: ChildProcess
  private exited = false
  readonly ready: Promise<void>
  readonly exit: Promise<number | null>
  onExit: ((code: number | null) => void) | undefined

  private readonly broker: DialBroker

  private readonly cleanup: () => void

  constructor(
    input: RuntimeData,
    isolation: Isolation,
    sandbox: Sandbox,
    routes?: ReadonlyMap<string, Route>
  ) {
    // The policy lives here, outside the runtime process: the runtime can only ask.
    this.broker = DialBroker.forRuntime(input, routes)
    const data = input
    this.cleanup = () => undefined
    // Workers code is built for workerd: packages that publish a Workers build under the
    // "workerd"/"worker" export conditions (pg-cloudflare, postgres.js) must resolve to it, for
    // require() too (the loader hooks cover import() only on Node 20). Sandboxed, the host's own
    // execArgv (--inspect, --import …) stays out: it would widen what the runtime may do.
    const command = runtimeCommand(sandbox, {
      node: process.execPath,
      nodeArgs: [
        ...(sandbox.kind === 'off' ? process.execArgv : []),
        '--conditions=workerd',
        '--conditions=worker',
      ],
      entry: ENTRY,
      layout: { hostRoot: HOST_ROOT, worker: workerPaths(data) },
      isolated: isolation.kind === 'netns',
      wrapper: isolation.wrapper,
    })
    // A minimal environment, never the host's: Node adds only its IPC channel's variables.
    this.child = spawn(command.file, command.args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: command.env,
    })
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.exited = true
        this.cleanup()
        resolve(code)
        this.onExit?.(code)
      })
    })
    this.ready = new Promise<void>((resolve, reject) => {
      // Everything the runtime sends is hostile (Worker code shares its process): only dial
      // requests are served; ready/loadError count once, before the Worker is serving; a handle
      // the runtime passes up is closed, never used.
      let settled = false
      this.child.on('message', (raw: unknown, handle?: unknown) => {
        closeHandle(handle)
        if (DialBroker.matches(raw)) {
          void this.broker.handle(raw, (reply, socket) => {
            if (!this.send(reply, socket)) socket?.destroy()
          })
          return
        }
        const message = raw as Partial<FromRuntime> | null
        if (settled || typeof message !== 'object' || message === null) return
        if (message.t === 'ready') {
          settled = true
          resolve()
        } else if (message.t === 'loadError') {
          settled = true
          const text = (message as { message?: unknown }).message
          reject(
            new WharfError(
              'ERR_WHARF_WORKER_LOAD',
              `the Worker module failed to load:\n${String(text).slice(0, 100_000)}`
            )
          )
        }
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
