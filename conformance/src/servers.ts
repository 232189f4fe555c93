// Loopback servers for scenarios, started fresh for every run (one set per scenario per runtime) on
// 127.0.0.1 (or ::1) port 0, plus the small HTTP control server through which a scenario running
// in workerd can ask what a server has seen.
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import type { TestPki } from '../../test-support/certs.js'
import type { CertName, ServerSpec, ServerView } from './types.js'

interface Recorder {
  events: string[]
  bytes: number
  head: Buffer
  connections: number
}

export interface RunningServer {
  authority: string
  port: number
  view(): ServerView
  close(): Promise<void>
}

const MAX_HEAD = 200
const MAX_EVENTS = 500

function push(r: Recorder, event: string): void {
  if (r.events.length < MAX_EVENTS) r.events.push(event)
}

function recordData(r: Recorder, d: Buffer): void {
  r.bytes += d.length
  if (r.head.length < MAX_HEAD) r.head = Buffer.concat([r.head, d]).subarray(0, MAX_HEAD)
  const last = r.events[r.events.length - 1]
  const m = last === undefined ? null : /^data:(\d+)$/.exec(last)
  if (m) r.events[r.events.length - 1] = `data:${Number(m[1]) + d.length}`
  else push(r, `data:${d.length}`)
}

function track(s: net.Socket, r: Recorder, data: boolean): void {
  r.connections++
  push(r, 'connect')
  if (data) s.on('data', (d: Buffer) => recordData(r, d))
  s.on('end', () => push(r, 'end'))
  s.on('close', () => push(r, 'close'))
  s.on('error', (e: NodeJS.ErrnoException) => push(r, `error:${e.code ?? e.message}`))
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = 97 + (i % 26)
  return b
}

function echo(s: net.Socket): void {
  s.on('data', (d: Buffer) => s.write(d))
  s.on('end', () => s.end())
}

function certFor(pki: TestPki, name: CertName): { key: string; cert: string } {
  const c = pki[name]
  return { key: c.key, cert: c.cert }
}

/** Upgrades a server-side plain socket to TLS and echoes over it. */
function serveTls(plain: net.Socket, r: Recorder, pki: TestPki, cert: CertName): void {
  const secure = new tls.TLSSocket(plain, { isServer: true, ...certFor(pki, cert) })
  secure.on('secure', () =>
    push(r, `tls:${(secure as tls.TLSSocket & { servername?: string }).servername || 'nosni'}`)
  )
  secure.on('data', (d: Buffer) => {
    recordData(r, d)
    secure.write(d)
  })
  secure.on('end', () => {
    push(r, 'tls-end')
    secure.end()
  })
  secure.on('error', (e: NodeJS.ErrnoException) => push(r, `tls-error:${e.code ?? e.message}`))
}

type Handler = (s: net.Socket, r: Recorder) => void

function handlerFor(spec: ServerSpec, pki: () => TestPki): Handler {
  switch (spec.kind) {
    case 'echo':
      return echo
    case 'silent':
    case 'refuse':
      return () => undefined
    case 'cmd':
      return (s) => {
        let buf = ''
        s.on('data', (d: Buffer) => {
          buf += d.toString('latin1')
          if (buf.length > 65536) buf = ''
          let nl: number
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).replace(/\r$/, '')
            buf = buf.slice(nl + 1)
            const [cmd = '', ...rest] = line.split(' ')
            const arg = rest.join(' ')
            if (cmd === 'SEND') s.write(arg)
            else if (cmd === 'BULK') s.write(pattern(Math.min(Number(arg) || 0, 64 * 1024 * 1024)))
            else if (cmd === 'FIN') s.end()
            else if (cmd === 'RST') s.resetAndDestroy()
            else if (cmd === 'CLOSE') s.destroySoon()
          }
        })
      }
    case 'greet':
      return (s) => {
        const act = (): void => {
          if (s.destroyed) return
          if (spec.then === 'rst') {
            // Reset only once the greeting has left this process, and late enough that the peer
            // has read it: when the data and the RST reach a busy client in one poll, libuv reads
            // the data and reports EOF (POLLHUP after a partial read), never the reset, and the
            // Node side sees a FIN where workerd sees `Network connection lost.`.
            s.write(spec.text, () => setTimeout(() => s.destroyed || s.resetAndDestroy(), 250))
            return
          }
          if (spec.text) s.write(spec.text)
          if (spec.then === 'end') s.end()
          else if (spec.then === 'destroy') s.end(() => s.destroy())
        }
        if (spec.delayMs) setTimeout(act, spec.delayMs)
        else act()
      }
    case 'bulk':
      return (s) => {
        s.write(pattern(spec.bytes))
        if (spec.then === 'end') s.end()
      }
    case 'sink':
      return (s, r) => {
        let count = 0
        s.on('data', (d: Buffer) => (count += d.length))
        s.on('end', () => {
          push(r, `sink:${count}`)
          s.end(String(count))
        })
        if (spec.pauseMs) {
          s.pause()
          setTimeout(() => s.resume(), spec.pauseMs)
        }
      }
    case 'slow':
      return (s) => {
        let i = 0
        const next = (): void => {
          if (s.destroyed) return
          const chunk = spec.chunks[i++]
          if (chunk === undefined) {
            s.end()
            return
          }
          s.write(chunk)
          setTimeout(next, spec.intervalMs)
        }
        setTimeout(next, spec.intervalMs)
      }
    case 'close-after':
      return (s) => {
        let count = 0
        s.on('data', (d: Buffer) => {
          count += d.length
          if (count >= spec.bytes && !s.destroyed) {
            if (spec.how === 'end') s.end()
            else s.resetAndDestroy()
          }
        })
      }
    case 'starttls':
      return (s, r) => {
        // The handshake never completes: the server hangs up as the ClientHello arrives.
        const hangUp = (): void => {
          s.once('data', () => {
            push(r, 'hello')
            if (spec.hangUpOnHello === 'end') s.end()
            else s.resetAndDestroy()
          })
        }
        if (spec.immediate) {
          if (spec.hangUpOnHello) hangUp()
          else serveTls(s, r, pki(), spec.cert)
          return
        }
        s.write('220 ready\r\n')
        let buf = ''
        const onData = (d: Buffer): void => {
          recordData(r, d)
          buf += d.toString('latin1')
          if (buf.includes('STARTTLS\r\n')) {
            s.off('data', onData)
            s.write('220 go\r\n')
            push(r, 'upgrade')
            if (spec.hangUpOnHello) hangUp()
            else serveTls(s, r, pki(), spec.cert)
          } else if (buf.length > 4096) s.destroy()
        }
        s.on('data', onData)
      }
    case 'tls':
      return () => undefined
  }
}

/**
 * Listens on a free port below Linux's ephemeral range (32768-60999). A `refuse` port is closed
 * again at once; taken from the ephemeral range, a server another scenario starts on port 0 at
 * the same moment could be handed the same port and answer instead of refusing.
 */
async function listenBelowEphemeral(server: net.Server, host: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    const ok = await new Promise<boolean>((resolve) => {
      const onError = (): void => resolve(false)
      server.once('error', onError)
      server.listen(port, host, () => {
        server.off('error', onError)
        resolve(true)
      })
    })
    if (ok) return
  }
  throw new Error('no free port below the ephemeral range for a refuse server')
}

/** Starts one server for `spec`. */
export async function startServer(spec: ServerSpec, pki: () => TestPki): Promise<RunningServer> {
  const r: Recorder = { events: [], bytes: 0, head: Buffer.alloc(0), connections: 0 }
  const sockets = new Set<net.Socket>()
  let server: net.Server
  if (spec.kind === 'tls') {
    const { key, cert } = certFor(pki(), spec.cert)
    server = tls.createServer({ key, cert, allowHalfOpen: true }, (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      push(r, `tls:${s.servername || 'nosni'}`)
      track(s, r, true)
      if (spec.greet !== undefined) s.end(spec.greet)
      else echo(s)
    })
    server.on('tlsClientError', (e: NodeJS.ErrnoException) =>
      push(r, `tlsClientError:${e.code ?? e.message}`)
    )
  } else {
    const handler = handlerFor(spec, pki)
    // Data is recorded by the starttls handler itself (only the plaintext part, then TLS data).
    const recordPlain = spec.kind !== 'starttls'
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      track(s, r, recordPlain)
      handler(s, r)
    })
  }
  // Track raw connections too: a TLS connection whose handshake never completes has no TLS socket,
  // and server.close() would wait for it forever.
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  const host =
    (spec.kind === 'echo' || spec.kind === 'tls' || spec.kind === 'starttls') && spec.host === '::1'
      ? '::1'
      : '127.0.0.1'
  if (spec.kind === 'refuse') await listenBelowEphemeral(server, host)
  else {
    server.listen(0, host)
    await once(server, 'listening')
  }
  const { port } = server.address() as net.AddressInfo
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy()
    if (!server.listening) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000)
      server.close(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
  if (spec.kind === 'refuse') await close()
  return {
    authority: host === '::1' ? `[::1]:${port}` : `127.0.0.1:${port}`,
    port,
    view: () => ({
      events: [...r.events],
      bytes: r.bytes,
      head: r.head.toString('latin1'),
      connections: r.connections,
    }),
    close,
  }
}

/** Live servers by port, so the control server can answer for any run. */
export const registry = new Map<number, RunningServer>()

/** Waits up to `timeoutMs` for an event equal to `until` (or starting with `until:`). */
export async function viewOf(
  server: RunningServer,
  until: string | undefined,
  timeoutMs: number
): Promise<ServerView> {
  const deadline = Date.now() + Math.min(Math.max(timeoutMs, 0), 8000)
  for (;;) {
    const view = server.view()
    const found =
      until === undefined || view.events.some((e) => e === until || e.startsWith(`${until}:`))
    if (found || Date.now() >= deadline) return view
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Starts the control server: `GET /view?port=&until=&timeout=` → the server's view as JSON. */
export async function startControlServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control')
    const target = registry.get(Number(url.searchParams.get('port')))
    if (!target) {
      res.writeHead(404).end('no such server')
      return
    }
    const until = url.searchParams.get('until') ?? undefined
    viewOf(target, until, Number(url.searchParams.get('timeout') ?? 0)).then(
      (view) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view)),
      (e: unknown) => res.writeHead(500).end(String(e))
    )
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
