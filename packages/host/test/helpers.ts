/**
 * Test helpers for the host: a running `wharf dev` child process (the built CLI, as users run
 * it), real loopback TCP servers that record what they see, and HTTP requests with timeouts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../../test-support/servers.js'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BIN = join(ROOT, 'packages/host/bin/wharf.js')
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
/** The egress rule tests pass to reach their own servers on 127.0.0.1. */
export const ALLOW_TEST_SERVERS = '127.0.0.1/32'

function requireBuild(): void {
  if (!existsSync(join(ROOT, 'packages/host/dist/cli.js'))) {
    throw new Error('packages/host/dist is missing: run `npm run build` first')
  }
}

export interface Wharf {
  readonly url: string
  readonly child: ChildProcess
  readonly pid: number
  output(): string
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  stop(): Promise<void>
}

/** Runs the CLI to completion (for commands that exit). */
export async function runWharf(
  args: string[],
  timeoutMs = 20_000
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireBuild()
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `wharf ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${stdout}${stderr}`
        )
      )
    }, timeoutMs)
    child.on('close', (c) => {
      clearTimeout(timer)
      resolve(c)
    })
  })
  return { code, stdout, stderr }
}

/** Starts `wharf dev <dir> --port 0 ...args` and waits for its Ready line. */
export async function startWharf(
  dir: string,
  args: string[] = [],
  timeoutMs = 20_000,
  env: NodeJS.ProcessEnv = process.env
): Promise<Wharf> {
  requireBuild()
  const child = spawn(process.execPath, [BIN, 'dev', dir, '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  })
  let out = ''
  const listeners = new Set<() => void>()
  const onData = (c: Buffer): void => {
    out += c.toString()
    for (const l of listeners) l()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  let exited = false
  child.on('exit', () => {
    exited = true
    for (const l of listeners) l()
  })
  const waitFor = (pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(out)
        if (m) {
          done()
          resolve(m)
        } else if (exited) {
          done()
          reject(new Error(`wharf exited before ${pattern}:\n${out}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out after ${ms} ms waiting for ${pattern}:\n${out}`))
      }, ms)
      const done = (): void => {
        clearTimeout(timer)
        listeners.delete(check)
      }
      listeners.add(check)
      check()
    })
  const ready = await waitFor(/Ready on (http:\/\/\S+)/, timeoutMs).catch((error: unknown) => {
    child.kill('SIGKILL')
    throw error
  })
  const pid = child.pid
  if (pid === undefined) throw new Error('no pid')
  return {
    url: ready[1] ?? '',
    child,
    pid,
    output: () => out,
    waitFor,
    stop: async () => {
      if (exited) return
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await gone
      clearTimeout(timer)
    },
  }
}

export interface Conn {
  data: string
  /** The peer sent FIN. */
  ended: boolean
  closed: boolean
  readonly ended$: Promise<void>
}

export interface TestServer {
  readonly port: number
  readonly host: string
  readonly conns: Conn[]
  /**
   * Most connections open at once. One counts until its peer ends it (FIN) or it closes: the
   * peer's close is what frees a socket slot, and this side's own close completes only a loop
   * iteration later, when a new connection may already have been accepted.
   */
  readonly maxConcurrent: () => number
  close(): Promise<void>
}

/** A loopback TCP echo server that records every connection. */
export async function echoServer(host = '127.0.0.1'): Promise<TestServer> {
  const conns: Conn[] = []
  let open = 0
  let max = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket)
    open++
    max = Math.max(max, open)
    let counted = true
    const uncount = (): void => {
      if (counted) open--
      counted = false
    }
    let resolveEnd = (): void => undefined
    const conn: Conn = {
      data: '',
      ended: false,
      closed: false,
      ended$: new Promise<void>((r) => (resolveEnd = r)),
    }
    conns.push(conn)
    socket.on('data', (chunk: Buffer) => {
      conn.data += chunk.toString()
      socket.write(chunk)
    })
    socket.on('end', () => {
      uncount()
      conn.ended = true
      resolveEnd()
      socket.end()
    })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      uncount()
      conn.closed = true
      sockets.delete(socket)
      resolveEnd()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    host,
    conns,
    maxConcurrent: () => max,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

export interface Reply {
  status: number
  body: string
}

/** One HTTP request on a fresh connection (Connection: close), with a timeout. */
export function get(url: string, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

/** Waits until `predicate()` is true, polling, or fails after `timeoutMs` (default 5 s). */
export function until(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = 'condition'
): Promise<void> {
  return waitFor(predicate, timeoutMs, what)
}

/** A temp directory with the given files; removed by the returned function. */
export function tempProject(files: Record<string, string>): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-host-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/** Direct children of `pid` (the Worker's runtime process is a child of `wharf dev`). */
/** The runtime processes among `pid`'s children (not esbuild's service process). */
export function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number)
    .filter((child) => {
      try {
        return !readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('esbuild')
      } catch {
        return false
      }
    })
}
