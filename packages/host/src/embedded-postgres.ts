/**
 * The embedded PostgreSQL of `wharf dev`: a `hyperdrive` binding with no connection string gets
 * PGlite (from npm, nothing to install) in a worker thread, with its data in the project
 * (`.wharf/hyperdrive/<BINDING>` unless `wharf.hyperdrive.<BINDING>.embedded.data_dir` says
 * otherwise). One host owns a data directory at a time (a lock file beside it).
 */
import { Worker } from 'node:worker_threads'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import type { EmbeddedSettings } from './config.js'
import { WharfEmbeddedDbError } from './errors.js'
import type { ThreadInput, ThreadMessage } from './embedded-postgres-thread.js'

export interface EmbeddedPostgres {
  /** The origin for the pooler (loopback, one session). */
  readonly connectionString: string
  readonly dataDir: string
  /** Whether this start created (and seeded) the data directory. */
  readonly created: boolean
  /** Milliseconds from start to accepting connections. */
  readonly ms: number
  close(): Promise<void>
}

const THREAD = new URL('./embedded-postgres-thread.js', import.meta.url)
const MAX_SEED_BYTES = 16 * 1024 * 1024
const CLOSE_MS = 10_000

function fail(message: string, cause?: unknown): WharfEmbeddedDbError {
  return new WharfEmbeddedDbError(message, { cause })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes `<dataDir>.lock`, or says which live process holds it; a stale lock is taken over. */
function lock(dataDir: string): () => void {
  const file = `${dataDir}.lock`
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 })
      return () => rmSync(file, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw fail(`cannot create ${file}: ${(error as Error).message}`, error)
      }
      const pid = Number.parseInt(readFileSync(file, 'utf8').slice(0, 32), 10)
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw fail(`${dataDir} is in use by process ${pid} (another wharf dev?)`)
      }
      rmSync(file, { force: true })
    }
  }
  throw fail(`cannot take ${file}`)
}

function readSeed(path: string): string {
  let stats: Stats
  try {
    stats = statSync(path)
  } catch (error) {
    throw fail(`the seed file ${path} cannot be read: ${(error as Error).message}`, error)
  }
  if (!stats.isFile()) throw fail(`the seed ${path} is not a file`)
  if (stats.size > MAX_SEED_BYTES) throw fail(`the seed ${path} is over ${MAX_SEED_BYTES} bytes`)
  return readFileSync(path, 'utf8')
}

/** Keeps the project's `.wharf/` out of git when the data lives there. */
function ignoreWharfDir(projectDir: string, dataDir: string): void {
  const rel = relative(projectDir, dataDir)
  if (rel.split(sep)[0] !== '.wharf') return
  const ignore = join(projectDir, '.wharf', '.gitignore')
  if (!existsSync(ignore)) writeFileSync(ignore, '# wharf dev: local data, never committed\n*\n')
}

export async function startEmbeddedPostgres(
  settings: EmbeddedSettings,
  projectDir: string,
  timeoutMs = 180_000
): Promise<EmbeddedPostgres> {
  const { dataDir } = settings
  const seed = settings.seed === undefined ? undefined : readSeed(settings.seed)
  try {
    mkdirSync(dirname(dataDir), { recursive: true, mode: 0o700 })
  } catch (error) {
    throw fail(`cannot create ${dirname(dataDir)}: ${(error as Error).message}`, error)
  }
  ignoreWharfDir(projectDir, dataDir)
  const unlock = lock(dataDir)
  const input: ThreadInput = { dataDir, ...(seed === undefined ? {} : { seed }) }
  const thread = new Worker(THREAD, { workerData: input, stdout: true, stderr: true })
  // PGlite prints initdb's and the server's chatter; keep the last of it for errors only.
  let chatter = ''
  const keep = (chunk: Buffer): void => {
    chatter = (chatter + chunk.toString('utf8')).slice(-4000)
  }
  thread.stdout.on('data', keep)
  thread.stderr.on('data', keep)
  let exited = false
  const exit = new Promise<void>((resolve) => thread.once('exit', () => resolve()))
  void exit.then(() => (exited = true))

  let ready: Extract<ThreadMessage, { t: 'ready' }>
  try {
    ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(fail(`it did not start within ${timeoutMs} ms`)),
        timeoutMs
      )
      const settle = (): void => clearTimeout(timer)
      thread.on('message', (message: ThreadMessage) => {
        if (message.t === 'ready') {
          settle()
          resolve(message)
        } else if (message.t === 'error') {
          settle()
          reject(fail(`${message.message}${chatter === '' ? '' : `\n${chatter.trim()}`}`))
        }
      })
      thread.once('error', (error) => {
        settle()
        reject(fail(error.message, error))
      })
      void exit.then(() => {
        settle()
        reject(fail(`its thread exited before it was ready${chatter === '' ? '' : `\n${chatter}`}`))
      })
    })
  } catch (error) {
    await thread.terminate()
    unlock()
    throw error
  }

  let closing: Promise<void> | undefined
  return {
    connectionString: `postgres://postgres@127.0.0.1:${ready.port}/postgres?sslmode=disable`,
    dataDir,
    created: ready.created,
    ms: ready.ms,
    close: () =>
      (closing ??= (async () => {
        if (!exited) {
          thread.postMessage({ t: 'close' })
          let timer: NodeJS.Timeout | undefined
          await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, CLOSE_MS)))])
          clearTimeout(timer)
          if (!exited) await thread.terminate()
        }
        unlock()
      })()),
  }
}
