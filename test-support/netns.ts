/**
 * A "private network" for tests: a network namespace the test creates, linked to the host's
 * namespace by a veth pair that carries only a /30 (for a connector's outbound connection to an
 * edge), with a private address on the namespace's own loopback that the host has no route to.
 * Addresses are the test's own: 10.251.<n>.0/30 for the link, 10.252.<n>.1 inside.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface PrivateNetwork {
  /** The namespace's name, for `ip netns exec`. */
  readonly ns: string
  /** The host's end of the link (an edge listens here). */
  readonly hostSide: string
  /** The namespace's end of the link. */
  readonly nsSide: string
  /** Reachable only inside the namespace: where its services listen. */
  readonly privateAddress: string
  /** `ip netns exec <ns> <command...>`, as arguments for spawn('ip', ...). */
  exec(command: string, ...args: string[]): string[]
  remove(): void
}

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 })
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr}`)
}

/** Whether this process may create namespaces (root with iproute2). */
export const canMakeNamespaces = ((): boolean => {
  if (process.getuid?.() !== 0) return false
  return spawnSync('ip', ['netns', 'list'], { timeout: 5_000 }).status === 0
})()

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Claims a subnet number no other live test process holds: a directory per number, created
 * atomically, with the holder's pid in it (a dead holder's claim is taken over).
 */
function claimSlot(): { n: number; release: () => void } {
  for (let i = 0; i < 200; i++) {
    const n = (process.pid + i) % 200
    const dir = join(tmpdir(), `wharf-private-network-${n}`)
    try {
      mkdirSync(dir)
    } catch {
      let holder: number
      try {
        holder = Number(readFileSync(join(dir, 'pid'), 'utf8'))
      } catch {
        continue // being created right now
      }
      if (holder > 0 && alive(holder)) continue
      rmSync(dir, { recursive: true, force: true })
      try {
        mkdirSync(dir)
      } catch {
        continue
      }
    }
    writeFileSync(join(dir, 'pid'), String(process.pid))
    return { n, release: () => rmSync(dir, { recursive: true, force: true }) }
  }
  throw new Error('no free private-network slot (200 in use)')
}

/** Creates the namespace and its link, on a subnet no other running test uses. */
export function createPrivateNetwork(): PrivateNetwork {
  const { n, release } = claimSlot()
  const ns = `wharf-pn-${n}`
  const hostLink = `wpn${n}h`
  const nsLink = `wpn${n}n`
  const hostSide = `10.251.${n}.1`
  const nsSide = `10.251.${n}.2`
  const privateAddress = `10.252.${n}.1`
  const clear = (): void => {
    spawnSync('ip', ['link', 'del', hostLink], { timeout: 10_000 })
    spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 })
  }
  const remove = (): void => {
    clear()
    release()
  }
  clear() // a crashed run's leftovers
  try {
    ip('netns', 'add', ns)
    ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink)
    ip('link', 'set', nsLink, 'netns', ns)
    ip('addr', 'add', `${hostSide}/30`, 'dev', hostLink)
    ip('link', 'set', hostLink, 'up')
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${nsSide}/30`, 'dev', nsLink)
    ip('netns', 'exec', ns, 'ip', 'link', 'set', nsLink, 'up')
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${privateAddress}/32`, 'dev', 'lo')
  } catch (error) {
    remove()
    throw error
  }
  return {
    ns,
    hostSide,
    nsSide,
    privateAddress,
    exec: (command, ...args) => ['netns', 'exec', ns, command, ...args],
    remove,
  }
}
