// `wharf pool --processes N` in its own process, for the tests of process groups (Postgres and
// MySQL origins alike): started, waited for until its primary says Ready, and stopped.
import { spawn } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const BIN = join(ROOT, 'packages', 'host', 'bin', 'wharf.js')

export interface PoolGroup {
  /** The port every process accepts on. */
  readonly port: number
  /** Stops the primary (SIGTERM), which stops its workers; resolves once it has exited. */
  stop(): Promise<void>
}

export async function startPoolGroup(upstream: string, processes = 2): Promise<PoolGroup> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'pool',
      '--upstream',
      upstream,
      '--listen',
      '127.0.0.1:0',
      '--processes',
      String(processes),
      '--stats-interval',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (out += c.toString()))
  const ready = new RegExp(
    `Ready on \\w+://[^@]*@127\\.0\\.0\\.1:(\\d+)/\\S* \\(${processes} processes\\)`
  )
  const deadline = Date.now() + 30_000
  for (;;) {
    const m = ready.exec(out)
    if (m) {
      return {
        port: Number(m[1]),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return
          const exited = new Promise((r) => child.once('exit', r))
          child.kill('SIGTERM')
          await exited
        },
      }
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL')
      throw new Error(`wharf pool --processes ${processes} not ready:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}
