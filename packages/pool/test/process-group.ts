// `wharf pool --processes N` in its own process, for the tests of process groups (Postgres and
// MySQL origins alike): started, waited for until its primary says Ready, and stopped.
import assert from 'node:assert/strict'
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

/**
 * One client in each of the first two processes (bounded tries). The kernel gives a connection to
 * whichever process accepts first, and an idle machine can let one win every sequential connect,
 * so they come in batches that arrive together. `ownerOf` reads a client's process index.
 */
export async function onePerProcess<C>(
  connect: () => Promise<C>,
  ownerOf: (client: C) => number
): Promise<[C, C]> {
  const by = new Map<number, C>()
  for (let batch = 0; batch < 10 && by.size < 2; batch++) {
    for (const c of await Promise.all(Array.from({ length: 8 }, connect))) {
      if (!by.has(ownerOf(c))) by.set(ownerOf(c), c)
    }
  }
  const a = by.get(0)
  const b = by.get(1)
  assert.ok(a && b, `80 connections all went to one process (${[...by.keys()].join()})`)
  return [a, b]
}
