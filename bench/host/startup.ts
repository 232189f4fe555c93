/**
 * Cold start to `Ready` and save to reloaded, for `wharf dev` on a project with a hyperdrive
 * binding, against a real PostgreSQL this script starts on loopback (test-support). Not a test:
 * it prints figures and the load average, and the host's `[wharf:timing]` phases of the last run.
 *
 *   npx tsx bench/host/startup.ts [--runs 5] [--reloads 5] [--pause 2500] [--embedded] [DIR]
 *
 * DIR defaults to examples/hyperdrive; its main module is edited (a comment appended) for each
 * reload (--pause ms after the previous one) and restored afterwards. With --embedded no connection string is set, so the host starts
 * its embedded PostgreSQL (PGlite) instead.
 */
import { spawn } from 'node:child_process'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { startPostgres } from '../../test-support/postgres.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BIN = join(ROOT, 'packages/host/bin/wharf.js')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '5' },
    reloads: { type: 'string', default: '5' },
    embedded: { type: 'boolean', default: false },
    pause: { type: 'string', default: '2500' },
  },
})
const runs = Math.min(50, Math.max(1, Number(values.runs)))
const reloads = Math.min(50, Math.max(0, Number(values.reloads)))
const pauseMs = Math.min(60_000, Math.max(0, Number(values.pause)))
const dir = resolve(positionals[0] ?? join(ROOT, 'examples/hyperdrive'))

function mainOf(project: string): string {
  for (const name of ['wrangler.jsonc', 'wrangler.json', 'wrangler.toml']) {
    try {
      const text = readFileSync(join(project, name), 'utf8')
      const m = /"?main"?\s*[:=]\s*"([^"]+)"/.exec(text)
      if (m?.[1] !== undefined) return join(project, m[1])
    } catch {
      // next name
    }
  }
  throw new Error(`no wrangler config with a main in ${project}`)
}

function bindings(project: string): string[] {
  for (const name of ['wrangler.jsonc', 'wrangler.json', 'wrangler.toml']) {
    try {
      const text = readFileSync(join(project, name), 'utf8')
      return [...text.matchAll(/"binding"\s*:\s*"([A-Za-z_][A-Za-z0-9_]*)"/g)].map(
        (m) => m[1] ?? ''
      )
    } catch {
      // next name
    }
  }
  return []
}

interface Host {
  readonly output: () => string
  /** Milliseconds (Date.now) when a line matching the pattern appears after `from` chars. */
  waitLine(pattern: RegExp, from: number, timeoutMs: number): Promise<number>
  stop(): Promise<void>
}

function startHost(env: NodeJS.ProcessEnv): Host {
  const child = spawn(process.execPath, [BIN, 'dev', dir, '--port', '0'], {
    env: { ...env, WHARF_TIMING: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const waiters = new Set<() => void>()
  const onData = (c: Buffer): void => {
    out += c.toString()
    for (const w of waiters) w()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  let exited = false
  child.on('exit', () => {
    exited = true
    for (const w of waiters) w()
  })
  return {
    output: () => out,
    waitLine: (pattern, from, timeoutMs) =>
      new Promise((resolveLine, reject) => {
        const check = (): void => {
          if (pattern.test(out.slice(from))) {
            done()
            resolveLine(Date.now())
          } else if (exited) {
            done()
            reject(new Error(`wharf exited:\n${out}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}`))
        }, timeoutMs)
        const done = (): void => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      }),
    stop: async () => {
      if (exited) return
      const gone = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await gone
      clearTimeout(timer)
    },
  }
}

function summary(label: string, ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN
  return `${label}: median ${median} ms, min ${sorted[0]} ms, max ${sorted.at(-1)} ms (${ms.join(', ')})`
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

const main = mainOf(dir)
const original = readFileSync(main, 'utf8')
const server = values.embedded ? undefined : await startPostgres({ auth: 'trust' })
const env = { ...process.env }
for (const b of bindings(dir)) {
  delete env[`CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${b}`]
  delete env[`WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_${b}`]
  if (server) {
    env[`CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_${b}`] =
      `${server.connectionString}?sslmode=disable`
  }
}
console.log(`project ${dir}, ${server ? 'PostgreSQL on loopback' : 'embedded PostgreSQL'}`)
console.log(`load average at start: ${load()} (Node ${process.version})`)
const cold: number[] = []
const reload: number[] = []
let lastOutput = ''
try {
  for (let run = 0; run < runs; run++) {
    const started = Date.now()
    const host = startHost(env)
    try {
      cold.push((await host.waitLine(/Ready on http/, 0, 180_000)) - started)
      if (run === runs - 1) {
        for (let i = 0; i < reloads; i++) {
          const from = host.output().length
          // A person saves seconds apart: the next runtime has booted by then (dev.ts spares).
          await new Promise((r) => setTimeout(r, pauseMs))
          const saved = Date.now()
          appendFileSync(main, `\n// bench reload ${i}\n`)
          reload.push((await host.waitLine(/Local server updated and ready/, from, 60_000)) - saved)
        }
      }
    } finally {
      await host.stop()
      writeFileSync(main, original)
      lastOutput = host.output()
    }
  }
} finally {
  writeFileSync(main, original)
  await server?.stop()
}
console.log(summary('cold start to Ready', cold))
if (reload.length > 0) console.log(summary('save to reloaded', reload))
console.log(`load average at end: ${load()}`)
console.log('phases of the last run:')
for (const line of lastOutput.split('\n')) {
  if (line.includes('[wharf:timing]') || line.includes('embedded PostgreSQL ready'))
    console.log(`  ${line}`)
}
