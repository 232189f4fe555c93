// Runs an example app the way a user does: a plain `node` child process started from the repo
// root with `--import @wharf/sockets/<entry>` (and `--conditions=workerd` when the driver needs
// it), loading the built package from dist/ and the drivers, unmodified, from node_modules.
import { execFile, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const root = join(import.meta.dirname, '..', '..', '..', '..')

export interface AppRun {
  /** Exit code (null if killed, e.g. by the timeout). */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** The last stdout line parsed as JSON (the examples print one result line), if any. */
  result: Record<string, unknown> | undefined
  /** The exact command line, for failure messages. */
  command: string
}

export interface RunOptions {
  /** `--import` entries, in order. Default: the register entry. */
  imports?: string[]
  /** Add `--conditions=workerd` (pg-cloudflare and postgres.js pick their Workers builds by it). */
  workerd?: boolean
  /** More Node flags, before the app. */
  nodeFlags?: string[]
  /** The Node binary (default: this one). */
  node?: string
  /** Extra environment; NODE_OPTIONS and friends of the test runner are not passed on. */
  env?: Record<string, string>
  timeoutMs?: number
}

/** The dist/ build the register entry loads; builds it when missing (a fresh checkout). */
export function ensureBuilt(): void {
  const dist = join(root, 'packages', 'sockets', 'dist')
  const built = (): boolean =>
    existsSync(join(dist, 'register.js')) && existsSync(join(dist, 'navigator.js'))
  if (built()) return
  // Several test files may get here at once: one build at a time, and only if still needed.
  execFileSync(
    'flock',
    [
      join(tmpdir(), 'wharf-build.lock'),
      'sh',
      '-c',
      'test -f "$1" || npm run build',
      'sh',
      join(dist, 'navigator.js'),
    ],
    { cwd: root, stdio: 'inherit', timeout: 300_000 }
  )
  if (!built()) throw new Error('npm run build did not produce packages/sockets/dist')
}

/** The test runner's environment minus what would make the child differ from a user's shell. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (/^(NODE_OPTIONS|NODE_TEST_CONTEXT|NODE_EXTRA_CA_CERTS|NODE_DEBUG|NODE_CHANNEL_FD)$/.test(k))
      continue
    env[k] = v
  }
  return env
}

function lastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').pop() ?? ''
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** Runs `node [--import …] [--conditions=workerd] <app> <args…>` from the repo root. Never throws. */
export function runApp(
  app: string,
  args: string[] = [],
  options: RunOptions = {}
): Promise<AppRun> {
  const imports = options.imports ?? ['@wharf/sockets/register']
  const argv = [
    ...imports.flatMap((entry) => ['--import', entry]),
    ...(options.workerd === true ? ['--conditions=workerd'] : []),
    ...(options.nodeFlags ?? []),
    app,
    ...args,
  ]
  const shown = Object.entries(options.env ?? {})
    .filter(([k]) => /^NODE_/.test(k))
    .map(([k, v]) => `${k}=${v} `)
    .join('')
  const command = `${shown}node ${argv.join(' ')}`
  return new Promise((resolve) => {
    execFile(
      options.node ?? process.execPath,
      argv,
      {
        cwd: root,
        env: { ...baseEnv(), ...options.env },
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 4 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: unknown; signal?: unknown }) | null
        resolve({
          code: failure ? (typeof failure.code === 'number' ? failure.code : null) : 0,
          signal:
            failure && typeof failure.signal === 'string'
              ? (failure.signal as NodeJS.Signals)
              : null,
          stdout,
          stderr,
          result: lastJsonLine(stdout),
          command,
        })
      }
    )
  })
}

/** A readable account of a run for assertion messages. */
export function describeRun(run: AppRun): string {
  return `${run.command}\nexit ${run.code ?? run.signal}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`
}

/**
 * Makes sure a system command exists: as root, runs scripts/install-system-deps.sh (what CI does
 * first anyway); otherwise fails with what to install.
 */
export function requireCommands(...commands: string[]): void {
  const missing = (): string[] =>
    commands.filter((c) => {
      try {
        execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' })
        return false
      } catch {
        return true
      }
    })
  if (missing().length === 0) return
  if (process.getuid?.() === 0) {
    execFileSync('bash', [join(root, 'scripts', 'install-system-deps.sh')], {
      stdio: 'inherit',
      timeout: 600_000,
    })
  }
  const still = missing()
  if (still.length > 0) {
    throw new Error(
      `missing ${still.join(', ')}: run \`sudo bash scripts/install-system-deps.sh\` (Debian packages)`
    )
  }
}

/** Node 22 and 24 (installed under tools/node on first use), for the registerHooks() path. */
export async function extraNodes(): Promise<string[]> {
  const extra = (await import(join(root, 'scripts', 'extra-nodes.mjs'))) as {
    ensureExtraNodes: () => string[]
  }
  return extra.ensureExtraNodes()
}
