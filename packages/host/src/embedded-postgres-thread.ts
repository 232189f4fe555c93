/**
 * The embedded PostgreSQL's thread: PGlite (PostgreSQL compiled to WASM) and its socket server
 * on loopback. It runs in a worker thread so that PGlite's start (seconds of WASM) and its
 * queries never block the supervisor's event loop, which accepts the Worker's connections.
 *
 * PGlite is one PostgreSQL session. Its socket server queues protocol messages from several
 * clients into that session, which interleaves extended-protocol messages (Parse/Bind/Execute
 * of two clients) and so is unsafe: the server takes one client, and the pooler in front of it
 * keeps exactly one origin connection.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export interface ThreadInput {
  readonly dataDir: string
  /** SQL to run when the data directory is new. */
  readonly seed?: string
}

export type ThreadMessage =
  | { readonly t: 'ready'; readonly port: number; readonly created: boolean; readonly ms: number }
  | { readonly t: 'error'; readonly message: string }
  | { readonly t: 'closed' }

function channel(): MessagePort {
  if (parentPort === null) throw new Error('embedded-postgres-thread runs as a worker thread only')
  return parentPort
}
const port = channel()
const input = workerData as ThreadInput
const send = (message: ThreadMessage): void => port.postMessage(message)

async function main(): Promise<void> {
  const started = performance.now()
  const { PGlite } = await import('@electric-sql/pglite')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  // PG_VERSION is written by initdb: without it the directory is new (or an earlier seed failed).
  const created = !existsSync(join(input.dataDir, 'PG_VERSION'))
  const db = await PGlite.create({ dataDir: input.dataDir })
  if (created && input.seed !== undefined) {
    try {
      await db.exec(input.seed)
    } catch (error) {
      // Leave no half-seeded database behind: the next start creates and seeds it again.
      await db.close().catch(() => undefined)
      rmSync(input.dataDir, { recursive: true, force: true })
      throw new Error(`the seed SQL failed: ${(error as Error).message}`, { cause: error })
    }
  }
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 })
  await server.start()
  const address = server.getServerConn()
  send({
    t: 'ready',
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    created,
    ms: Math.round(performance.now() - started),
  })
  port.on('message', (message: unknown) => {
    if ((message as { t?: unknown } | null)?.t !== 'close') return
    void (async () => {
      await server.stop().catch(() => undefined)
      // close() checkpoints: the data directory is consistent for the next start.
      await db.close().catch(() => undefined)
      send({ t: 'closed' })
      port.close()
    })()
  })
}

main().catch((error: unknown) => {
  send({ t: 'error', message: (error as Error).message })
  port.close()
})
