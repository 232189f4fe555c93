// A real redis-server (the Debian package) on free loopback ports, for driver tests: password
// auth, no persistence, and optionally a TLS port with a certificate from the test PKI.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './servers.js'

export interface RedisTls {
  certPath: string
  keyPath: string
  caPath: string
}

export interface RedisServer {
  host: '127.0.0.1'
  /** Plain TCP port. */
  port: number
  /** TLS-only port (only with `tls`). */
  tlsPort?: number
  password: string
  /** `redis-server --version`, for reports. */
  version: string
  /** Runs one command through redis-cli on the plain port (a client independent of the driver). */
  cli(...args: string[]): string
  /** Stops the server (SIGTERM) and starts it again on the same port, empty, like a restart. */
  restart(): Promise<void>
  stop(): Promise<void>
}

const START_TIMEOUT_MS = 10_000
const MAX_PORT_TRIES = 5

/** Says what is missing, and how to get it, when redis-server is not installed. */
export function redisServerMissing(): string | undefined {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'redis-server/redis-cli not found: run `bash scripts/install-system-deps.sh` as root (Debian package redis-server)'
  }
}

/**
 * Whether this redis-server was built with TLS (Debian's is). Redis reads its arguments as config
 * lines in order and stops at the first bad one: with TLS built in, that is the probe directive.
 */
export function redisSupportsTls(): boolean {
  const result = spawnSync(
    'redis-server',
    ['--tls-port', '0', '--port', '0', '--wharf-probe', '1'],
    {
      encoding: 'utf8',
      timeout: 5000,
    }
  )
  const text = `${result.stdout}${result.stderr}`
  return /wharf-probe/.test(text) && !/'tls-port/.test(text)
}

/** Waits for "Ready to accept connections", or for the process to exit, or the timeout. */
function waitReady(child: ChildProcess, log: () => string): Promise<'ready' | 'in-use'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`redis-server not ready within ${START_TIMEOUT_MS} ms:\n${log()}`))
    }, START_TIMEOUT_MS)
    const onData = (): void => {
      if (/Ready to accept connections/.test(log())) {
        cleanup()
        resolve('ready')
      }
    }
    const onExit = (): void => {
      cleanup()
      if (/Address already in use/.test(log())) resolve('in-use')
      else reject(new Error(`redis-server exited during start-up:\n${log()}`))
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('close', onExit)
    }
    child.stdout?.on('data', onData)
    // 'close', not 'exit': by then everything the process printed has been read.
    child.on('close', onExit)
  })
}

/** Starts redis-server as a child of this process; `stop()` ends it and removes its directory. */
export async function startRedis(options: { tls?: RedisTls } = {}): Promise<RedisServer> {
  const missing = redisServerMissing()
  if (missing) throw new Error(missing)
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim()
  const password = `pw-${Math.random().toString(36).slice(2)}`
  const dir = mkdtempSync(join(tmpdir(), 'wharf-redis-'))
  // A port picked by the kernel can be taken again before redis binds it: retry a few times.
  for (let attempt = 0; attempt < MAX_PORT_TRIES; attempt++) {
    const port = await freePort()
    const tlsPort = options.tls ? await freePort() : undefined
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--requirepass',
      password,
      '--protected-mode',
      'yes',
    ]
    if (options.tls && tlsPort !== undefined) {
      args.push(
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        options.tls.certPath,
        '--tls-key-file',
        options.tls.keyPath,
        '--tls-ca-cert-file',
        options.tls.caPath,
        '--tls-auth-clients',
        'no'
      )
    }
    const launch = async (): Promise<{ child: ChildProcess; state: string }> => {
      const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      const append = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-20_000)
      }
      child.stdout?.on('data', append)
      child.stderr?.on('data', append)
      const state = await waitReady(child, () => output).catch((e: unknown) => {
        child.kill('SIGKILL')
        throw e
      })
      return { child, state }
    }
    let launched: Awaited<ReturnType<typeof launch>>
    try {
      launched = await launch()
    } catch (e) {
      rmSync(dir, { recursive: true, force: true })
      throw e
    }
    if (launched.state === 'in-use') continue
    let child = launched.child
    let exited = false
    const watchExit = (c: ChildProcess): void => {
      c.on('exit', () => {
        if (c === child) exited = true
      })
    }
    watchExit(child)
    const kill = async (): Promise<void> => {
      if (exited) return
      const current = child
      current.kill('SIGTERM')
      const timer = setTimeout(() => current.kill('SIGKILL'), 3000)
      if (!exited) await once(current, 'exit')
      clearTimeout(timer)
    }
    const server: RedisServer = {
      host: '127.0.0.1',
      port,
      password,
      version,
      cli: (...cmd: string[]) =>
        execFileSync(
          'redis-cli',
          ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '-a', password, ...cmd],
          { encoding: 'utf8', timeout: 5000 }
        ).replace(/\n$/, ''),
      async restart() {
        await kill()
        // The port was ours a moment ago; another process taking it in between fails the test.
        const again = await launch()
        if (again.state === 'in-use') throw new Error(`redis port ${port} was taken during restart`)
        child = again.child
        exited = false
        watchExit(child)
      },
      async stop() {
        await kill()
        rmSync(dir, { recursive: true, force: true })
      },
    }
    if (tlsPort !== undefined) server.tlsPort = tlsPort
    return server
  }
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`redis-server found no free port in ${MAX_PORT_TRIES} tries`)
}
