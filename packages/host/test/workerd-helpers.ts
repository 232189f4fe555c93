// workerd itself, for tests that compare a Worker's answers under wharf with workerd's.
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { freePort } from '../../../test-support/servers.js'
import { ROOT, get, startWharf, type Wharf } from './helpers.js'

/** A module of a workerd config: its name (as imports see it), its type and its file. */
export interface WorkerdModule {
  readonly name: string
  readonly type: 'esModule' | 'commonJsModule' | 'text' | 'data' | 'wasm'
  readonly file: string
}

export interface WorkerdOptions {
  readonly modules: readonly WorkerdModule[]
  /** A script in the service-worker syntax instead of modules. */
  readonly serviceWorker?: { readonly file: string }
  /** Text bindings. */
  readonly bindings?: Readonly<Record<string, string>>
  readonly compatibilityDate: string
  readonly compatibilityFlags?: readonly string[]
  /** A path that answers once the Worker is up (any status). */
  readonly readyPath?: string
}

export interface RunningWorkerd {
  readonly origin: string
  stop(): void
}

/** Starts `workerd serve` on 127.0.0.1 with one Worker, and waits until it answers. */
export async function startWorkerd(options: WorkerdOptions): Promise<RunningWorkerd> {
  const { ensureWorkerd } = (await import(join(ROOT, 'scripts', 'ensure-workerd.mjs'))) as {
    ensureWorkerd: () => string
  }
  const dir = mkdtempSync(join(tmpdir(), 'wharf-workerd-'))
  const port = await freePort()
  // embed paths are relative to the config: each module is copied next to it, under its name.
  for (const m of options.modules) {
    mkdirSync(dirname(join(dir, 'modules', m.name)), { recursive: true })
    copyFileSync(m.file, join(dir, 'modules', m.name))
  }
  const modules = options.modules
    .map((m) => `( name = ${JSON.stringify(m.name)}, ${m.type} = embed "modules/${m.name}" )`)
    .join(',\n      ')
  const flags = (options.compatibilityFlags ?? []).map((f) => JSON.stringify(f)).join(', ')
  if (options.serviceWorker !== undefined)
    copyFileSync(options.serviceWorker.file, join(dir, 'service-worker.js'))
  const code =
    options.serviceWorker === undefined
      ? `modules = [
      ${modules}
    ],`
      : 'serviceWorkerScript = embed "service-worker.js",'
  const bindings = Object.entries(options.bindings ?? {})
    .map(([name, text]) => `( name = ${JSON.stringify(name)}, text = ${JSON.stringify(text)} )`)
    .join(', ')
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ( name = "main", worker = (
    ${code}
    bindings = [${bindings}],
    compatibilityDate = "${options.compatibilityDate}",
    compatibilityFlags = [${flags}],
  ) ) ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
`
  writeFileSync(join(dir, 'config.capnp'), config)
  const child: ChildProcess = spawn(ensureWorkerd(), ['serve', join(dir, 'config.capnp')], {
    stdio: 'ignore',
  })
  const stop = (): void => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  const origin = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      await get(`${origin}${options.readyPath ?? '/'}`, 2000)
      return { origin, stop }
    } catch (error) {
      if (Date.now() > deadline) {
        stop()
        throw error
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

export interface SideBySide {
  readonly workerd: RunningWorkerd
  readonly wharf: Wharf
  /** Stops both. */
  readonly stop: () => Promise<void>
}

/**
 * workerd and `wharf dev` on the same Worker, started together. If either fails to start, the
 * other is stopped before the error is passed on.
 */
export async function startSideBySide(
  dir: string,
  workerd: WorkerdOptions,
  wharfArgs: string[] = ['--no-watch']
): Promise<SideBySide> {
  const [oracle, ours] = await Promise.allSettled([
    startWorkerd(workerd),
    startWharf(dir, wharfArgs, 30_000),
  ])
  if (oracle.status === 'rejected' || ours.status === 'rejected') {
    if (oracle.status === 'fulfilled') oracle.value.stop()
    if (ours.status === 'fulfilled') await ours.value.stop()
    throw oracle.status === 'rejected' ? oracle.reason : (ours as PromiseRejectedResult).reason
  }
  return {
    workerd: oracle.value,
    wharf: ours.value,
    stop: async () => {
      oracle.value.stop()
      await ours.value.stop()
    },
  }
}
