/**
 * Test helpers for `wharf serve`: the built CLI as a child process (its URL, admin URL, output,
 * signals), HTTP requests that report errors instead of throwing, and file descriptors counted
 * over the host's whole process tree.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, FIXTURES, ROOT, childPids, openFds } from './helpers.js'

export interface Served {
  readonly url: string
  readonly admin: string | undefined
  readonly child: ChildProcess
  readonly pid: number
  output(): string
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** Resolves with the exit code (or signal) once the process exited. */
  readonly exited: Promise<number | string>
  stop(): Promise<number | string>
}

/** Starts `wharf serve <dir> --port 0 ...args` and waits for its ready line. */
export async function startServed(
  dir: string,
  args: string[] = [],
  timeoutMs = 30_000
): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const listeners = new Set<() => void>()
  const onData = (c: Buffer): void => {
    out += c.toString()
    if (out.length > 4_000_000) out = out.slice(-2_000_000)
    for (const l of listeners) l()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  let done = false
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true
      for (const l of listeners) l()
      resolve(code ?? signal ?? -1)
    })
  })
  const waitFor = (pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(out)
        if (m) {
          finish()
          resolve(m)
        } else if (done) {
          finish()
          reject(new Error(`wharf serve exited before ${pattern}:\n${out.slice(-4000)}`))
        }
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out after ${ms} ms waiting for ${pattern}:\n${out.slice(-4000)}`))
      }, ms)
      const finish = (): void => {
        clearTimeout(timer)
        listeners.delete(check)
      }
      listeners.add(check)
      check()
    })
  const ready = await waitFor(
    /serving .* on (http:\/\/\S+)|"event":"ready","url":"(http:\/\/[^"]+)"/,
    timeoutMs
  ).catch((error: unknown) => {
    child.kill('SIGKILL')
    throw error
  })
  const admin = /admin listener on (http:\/\/\S+)|"admin":"(http:\/\/[^"]+)"/.exec(out)
  const pid = child.pid ?? 0
  return {
    url: ready[1] ?? ready[2] ?? '',
    admin: admin ? (admin[1] ?? admin[2]) : undefined,
    child,
    pid,
    output: () => out,
    waitFor,
    exited,
    stop: async () => {
      if (!done) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

export interface Answer {
  readonly status: number
  readonly body: string
  readonly error?: string
  readonly ms: number
}

/** One request; a failure is an answer with `error` (status 0), never a throw. */
export function request(
  url: string,
  options: {
    agent?: http.Agent | false
    timeoutMs?: number
    method?: string
    headers?: Record<string, string>
  } = {}
): Promise<Answer> {
  const started = performance.now()
  return new Promise((resolve) => {
    const ms = (): number => Math.round(performance.now() - started)
    const req = http.request(
      url,
      {
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 20_000,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: ms() }))
        res.on('error', (e) => resolve({ status: 0, body, error: e.message, ms: ms() }))
      }
    )
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message, ms: ms() }))
    req.end()
  })
}

/** Open file descriptors of the host and every runtime process under it. */
export function treeFds(pid: number): number {
  let n = 0
  const seen = new Set<number>()
  const walk = (p: number, depth: number): void => {
    if (seen.has(p) || depth > 4) return
    seen.add(p)
    try {
      n += openFds(p)
      for (const c of childPids(p)) walk(c, depth + 1)
    } catch {
      // The process just exited.
    }
  }
  walk(pid, 0)
  return n
}

/** The runtime processes (node) under the host, through `unshare` when isolated. */
export function runtimePids(pid: number): number[] {
  const out: number[] = []
  const walk = (p: number, depth: number): void => {
    if (depth > 3) return
    for (const c of childPids(p)) {
      let cmd: string
      try {
        cmd = readCmd(c)
      } catch {
        continue
      }
      if (cmd.includes('runtime/child.js')) out.push(c)
      else walk(c, depth + 1)
    }
  }
  walk(pid, 0)
  return out
}

function readCmd(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
}

/** A copy of the serve fixture in a temp directory (deploy tests change it). */
export function fixtureCopy(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-serve-'))
  cpSync(join(FIXTURES, 'serve'), dir, { recursive: true })
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export async function metrics(admin: string): Promise<string> {
  return (await request(`${admin}/metrics`)).body
}

/** One Prometheus sample's value (0 when absent). */
export function sample(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  }
  return 0
}
