/**
 * A DNS server of the test's own on a loopback address, and a way to make a child process use it:
 * the child runs in a private mount namespace where /etc/resolv.conf names only this server. So a
 * real getaddrinfo() (glibc, through libuv) meets the answers the test picks, and no query leaves
 * the machine. Needs root (unshare, mount, port 53); `dnsUnavailable()` says why not otherwise.
 *
 * It answers A queries for every name with `mode.address`, AAAA with no records, and can instead
 * answer NXDOMAIN or SERVFAIL, or drop queries (a resolver that hangs).
 */
import dgram from 'node:dgram'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type DnsMode =
  | { readonly answer: 'address'; readonly address: string }
  | { readonly answer: 'nxdomain' | 'servfail' | 'drop' }

export interface TestDns {
  /** The loopback address it listens on (port 53). */
  readonly host: string
  /** Changes the answers from the next query on. */
  mode: DnsMode
  /** Queries received, by name. */
  readonly queries: string[]
  /** A resolv.conf naming only this server (what `wrap` mounts over /etc/resolv.conf). */
  readonly resolvConf: string
  /**
   * argv that runs `command` with this server as its only resolver (`unshare -m`, then a bind
   * mount over /etc/resolv.conf, then exec).
   */
  wrap(command: readonly string[]): string[]
  stop(): Promise<void>
}

export function dnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (a mount namespace and port 53)'
  try {
    execFileSync('unshare', ['--mount', 'true'], { stdio: 'ignore' })
  } catch {
    return 'unshare --mount failed here'
  }
  return undefined
}

const MAX_QUERIES_KEPT = 1000

function questionName(msg: Buffer): { name: string; end: number } | undefined {
  const labels: string[] = []
  let at = 12
  for (let hops = 0; hops < 128; hops++) {
    const len = msg[at]
    if (len === undefined || len > 63) return undefined
    at++
    if (len === 0) return { name: labels.join('.'), end: at }
    if (at + len > msg.length) return undefined
    labels.push(msg.toString('latin1', at, at + len))
    at += len
  }
  return undefined
}

function reply(query: Buffer, mode: DnsMode): Buffer | undefined {
  if (query.length < 12 || mode.answer === 'drop') return undefined
  const q = questionName(query)
  if (!q || q.end + 4 > query.length) return undefined
  const qtype = query.readUInt16BE(q.end)
  const question = query.subarray(12, q.end + 4)
  const rcode = mode.answer === 'nxdomain' ? 3 : mode.answer === 'servfail' ? 2 : 0
  const answers: Buffer[] = []
  if (mode.answer === 'address' && qtype === 1) {
    const rr = Buffer.alloc(16)
    rr.writeUInt16BE(0xc00c, 0) // the question's name
    rr.writeUInt16BE(1, 2) // A
    rr.writeUInt16BE(1, 4) // IN
    rr.writeUInt32BE(0, 6) // TTL 0: every lookup asks again
    rr.writeUInt16BE(4, 10)
    mode.address.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i))
    answers.push(rr)
  }
  const header = Buffer.alloc(12)
  query.copy(header, 0, 0, 2) // id
  header.writeUInt16BE(0x8180 | rcode, 2) // response, recursion desired and available
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(answers.length, 6)
  return Buffer.concat([header, question, ...answers])
}

export async function startTestDns(initial: DnsMode): Promise<TestDns> {
  // A 127/8 address of its own, so it never meets a local resolver on 127.0.0.1 or 127.0.0.53.
  const host = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(53, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  const dir = mkdtempSync(join(tmpdir(), 'wharf-dns-'))
  const resolvConf = join(dir, 'resolv.conf')
  // One try of one second: a dropped query fails in about a second per address family.
  writeFileSync(resolvConf, `nameserver ${host}\noptions timeout:1 attempts:1\n`)
  const dns: TestDns = {
    host,
    mode: initial,
    queries: [],
    resolvConf,
    wrap(command) {
      const script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
      return [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        resolvConf,
        ...command,
      ]
    },
    async stop() {
      await new Promise<void>((resolve) => socket.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  socket.on('message', (msg, from) => {
    const name = questionName(msg)?.name
    if (name !== undefined && dns.queries.length < MAX_QUERIES_KEPT) dns.queries.push(name)
    const out = reply(msg, dns.mode)
    if (out) socket.send(out, from.port, from.address)
  })
  return dns
}
