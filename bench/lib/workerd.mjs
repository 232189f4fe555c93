// Starts the pinned workerd with a generated config: the bench Worker, and an `internet` network
// that allows loopback and trusts the bench CA (workerd's default `internet` is public-only).
import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureWorkerd } from '../../scripts/ensure-workerd.mjs'

export async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Resident set size of a process in bytes (Linux /proc), or undefined. */
export function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** User + system CPU of a process so far, in µs (Linux /proc; clock ticks of 10 ms), or undefined. */
export function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return undefined
  }
}

export async function startWorkerd({ caPath }) {
  const bin = ensureWorkerd()
  const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-workerd-'))
  for (const f of ['worker.js', 'cf-scenarios.js']) {
    copyFileSync(join(import.meta.dirname, f), join(dir, f))
  }
  copyFileSync(caPath, join(dir, 'ca.pem'))
  const port = await freePort()
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ( name = "main", worker = (
        modules = [ ( name = "worker.js", esModule = embed "worker.js" ),
                    ( name = "cf-scenarios.js", esModule = embed "cf-scenarios.js" ) ],
        compatibilityDate = "2026-11-01" ) ),
    ( name = "internet", network = ( allow = ["local"],
        tlsOptions = ( trustedCertificates = [ embed "ca.pem" ] ) ) ),
  ],
  sockets = [ ( name = "http", address = "127.0.0.1:${port}", http = (), service = "main" ) ],
);
`
  )
  const child = spawn(bin, ['serve', join(dir, 'config.capnp')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    if (stderr.length < 20_000) stderr += chunk
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited: ${stderr}`)
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`workerd did not start: ${stderr}`)
      await sleep(100)
    }
  }
  return {
    url,
    pid: child.pid,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await Promise.race([exited, sleep(5000)])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
