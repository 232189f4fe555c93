// Real loopback servers for socket tests: each listens on 127.0.0.1 port 0 and records what it saw.
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'

export interface ServerRecord {
  /** Events in order: 'connect', 'data:<text>', 'end', 'close', 'error:<code>'. */
  events: string[]
  /** Every byte received, across connections. */
  received: Buffer[]
  connections: number
}

export interface TestServer extends ServerRecord {
  port: number
  address: string
  server: net.Server
  close(): Promise<void>
}

export type Handler = (socket: net.Socket, record: ServerRecord) => void

function track(socket: net.Socket, record: ServerRecord, recordData: boolean): void {
  record.connections++
  record.events.push('connect')
  if (recordData) {
    socket.on('data', (d: Buffer) => {
      record.received.push(d)
      record.events.push(`data:${d.length}`)
    })
  }
  socket.on('end', () => record.events.push('end'))
  socket.on('close', () => record.events.push('close'))
  socket.on('error', (e: NodeJS.ErrnoException) =>
    record.events.push(`error:${e.code ?? e.message}`)
  )
}

async function listen(server: net.Server, record: ServerRecord): Promise<TestServer> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return Object.assign(record, {
    port,
    address: `127.0.0.1:${port}`,
    server,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}

function newRecord(): ServerRecord {
  return { events: [], received: [], connections: 0 }
}

/** A TCP server running `handler` for every connection (allowHalfOpen so tests control FIN). */
export function tcpServer(handler: Handler, recordData = true): Promise<TestServer> {
  const record = newRecord()
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    track(socket, record, recordData)
    handler(socket, record)
  })
  return listen(server, record)
}

/** Echoes everything; half-closes when the client does. */
export function echoServer(): Promise<TestServer> {
  return tcpServer((s) => {
    s.on('data', (d: Buffer) => s.write(d))
    s.on('end', () => s.end())
  }, true)
}

/** A TLS server (echo by default) with the given key/cert. */
export function tlsServer(
  options: tls.TlsOptions,
  handler: Handler = (s) => {
    s.on('data', (d: Buffer) => s.write(d))
    s.on('end', () => s.end())
  }
): Promise<TestServer & { servernames: (string | false)[] }> {
  const record = newRecord()
  const servernames: (string | false)[] = []
  const server = tls.createServer({ allowHalfOpen: true, ...options }, (socket) => {
    servernames.push(socket.servername ?? false)
    track(socket, record, true)
    handler(socket, record)
  })
  server.on('tlsClientError', (e: NodeJS.ErrnoException) =>
    record.events.push(`tlsClientError:${e.code ?? e.message}`)
  )
  return listen(server, record).then((s) => Object.assign(s, { servernames }))
}

/** A loopback port that was free a moment ago (bound, then closed), for servers given a port. */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A port with nothing listening. */
export function refusedPort(): Promise<number> {
  return freePort()
}

/** Waits until `predicate` holds, polling, or throws after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 2000,
  what = 'condition'
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Settles `p` or reports 'pending' after `ms`. */
export async function settleWithin<T>(
  p: Promise<T>,
  ms = 200
): Promise<
  { state: 'fulfilled'; value: T } | { state: 'rejected'; reason: unknown } | { state: 'pending' }
> {
  let timer: NodeJS.Timeout | undefined
  const pending = new Promise<{ state: 'pending' }>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'pending' }), ms)
  })
  try {
    return await Promise.race([
      p.then(
        (value) => ({ state: 'fulfilled' as const, value }),
        (reason: unknown) => ({ state: 'rejected' as const, reason })
      ),
      pending,
    ])
  } finally {
    clearTimeout(timer)
  }
}

export interface LoopbackPair {
  /** The same port on 127.0.0.1 and on ::1. */
  port: number
  /** Connections each address accepted (each is destroyed after `greeting`, if any, is sent). */
  hits: { v4: number; v6: number }
  close(): Promise<void>
}

/**
 * Servers on 127.0.0.1:P and [::1]:P with the same P, counting accepted connections: lets a test
 * see which address a connection really reached (e.g. the checked answer, not a rebinding one).
 */
export async function loopbackPair(greeting?: { v4: string; v6: string }): Promise<LoopbackPair> {
  const hits = { v4: 0, v6: 0 }
  const make = (family: 'v4' | 'v6'): net.Server =>
    net.createServer((s) => {
      hits[family]++
      if (greeting) s.end(greeting[family])
      else s.destroy()
    })
  for (let attempt = 0; attempt < 20; attempt++) {
    const v4 = make('v4')
    v4.listen(0, '127.0.0.1')
    await once(v4, 'listening')
    const { port } = v4.address() as net.AddressInfo
    const v6 = make('v6')
    const ok = await new Promise<boolean>((resolve) => {
      v6.once('error', () => resolve(false))
      v6.listen(port, '::1', () => resolve(true))
    })
    if (!ok) {
      await new Promise((r) => v4.close(r))
      continue
    }
    const close = async (): Promise<void> => {
      await Promise.all([new Promise((r) => v4.close(r)), new Promise((r) => v6.close(r))])
    }
    return { port, hits, close }
  }
  throw new Error('no port was free on both 127.0.0.1 and ::1 after 20 tries')
}
