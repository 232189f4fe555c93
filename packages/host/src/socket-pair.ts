/**
 * A connected pair of local sockets, one end of which can travel to the runtime process as a file
 * descriptor. Used for connections the supervisor cannot pass as they are (a tunnel flow is a TLS
 * connection whose state lives in this process): the supervisor pipes the flow to one end and
 * hands over the other. The listening socket lives in a private (0700) directory, and each pair
 * is matched by a random token, so nothing else can join a pair.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'

const TOKEN_BYTES = 16
const PAIR_TIMEOUT_MS = 5_000

let server:
  Promise<{ path: string; waiting: Map<string, (socket: net.Socket) => void> }> | undefined

function listen(): NonNullable<typeof server> {
  server ??= new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-pair-'))
    const path = join(dir, 's')
    const waiting = new Map<string, (socket: net.Socket) => void>()
    const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      socket.on('error', () => undefined)
      const timer = setTimeout(() => socket.destroy(), PAIR_TIMEOUT_MS)
      const onReadable = (): void => {
        const token = socket.read(TOKEN_BYTES) as Buffer | null
        if (token === null) return
        socket.off('readable', onReadable)
        clearTimeout(timer)
        const match = waiting.get(token.toString('hex'))
        if (match === undefined) socket.destroy()
        else match(socket)
      }
      socket.on('readable', onReadable)
    })
    listener.unref()
    listener.once('error', reject)
    listener.listen(path, () => resolve({ path, waiting }))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  })
  return server
}

/**
 * Two connected local sockets, both passable to runtime processes (a service binding's
 * connection: one end for the caller, one for the callee). Both are returned paused.
 */
export async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const { path, waiting } = await listen()
  const token = randomBytes(TOKEN_BYTES)
  const key = token.toString('hex')
  const accepted = new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(key)
      reject(new Error('the local socket pair did not connect'))
    }, PAIR_TIMEOUT_MS)
    waiting.set(key, (socket) => {
      clearTimeout(timer)
      waiting.delete(key)
      resolve(socket)
    })
  })
  const end = net.connect({ path, allowHalfOpen: true })
  end.on('error', () => undefined)
  end.write(token)
  end.pause()
  try {
    const near = await accepted
    near.pause()
    return [end, near]
  } catch (error) {
    end.destroy()
    throw error
  }
}

/**
 * A socket whose bytes are `flow`'s, both ways, FIN and reset included; pass it to the runtime.
 * It is returned paused, so no byte is read here before the runtime owns it.
 */
export async function passableEnd(flow: Duplex): Promise<net.Socket> {
  const [end, near] = await socketPair()
  splice(near, flow)
  return end
}

function splice(a: Duplex, b: Duplex): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.on('error', () => to.destroy())
    from.once('close', () => {
      if (!to.writableEnded) to.destroy()
    })
    from.pipe(to)
  }
}
