/**
 * A connected pair of local sockets, one end of which can travel to the runtime process as a file
 * descriptor. Used for connections the supervisor cannot pass as they are (a tunnel flow is a TLS
 * connection whose state lives in this process): the supervisor pipes the flow to one end and
 * hands over the other. The listening socket lives in a private (0700) directory, and each pair
 * is matched by a random token, so nothing else can join a pair. Both ends leave this function
 * unread: a descriptor passed with bytes read ahead into this process would lose them.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'

const TOKEN_BYTES = 16
const PAIR_TIMEOUT_MS = 5_000

interface Listening {
  readonly path: string
  /** Accepted sockets by the token each was sent, until their connecting end claims them. */
  readonly accepted: Map<string, net.Socket>
}

let server: Promise<Listening> | undefined

function listen(): Promise<Listening> {
  server ??= new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-pair-'))
    const path = join(dir, 's')
    const accepted = new Map<string, net.Socket>()
    // The accepted end is never read here (paused from the start): it can travel as a descriptor
    // with no byte left behind in this process. It sends a token; the connecting end claims it.
    const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      socket.on('error', () => undefined)
      const token = randomBytes(TOKEN_BYTES)
      const key = token.toString('hex')
      accepted.set(key, socket)
      const timer = setTimeout(() => {
        if (accepted.delete(key)) socket.destroy()
      }, PAIR_TIMEOUT_MS)
      timer.unref()
      socket.write(token)
    })
    listener.unref()
    listener.once('error', reject)
    listener.listen(path, () => resolve({ path, accepted }))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  })
  return server
}

/**
 * Two connected local sockets, both passable to runtime processes (a service binding's
 * connection: one end for the caller, one for the callee), both unread. The connecting end reads
 * exactly the token (its read buffer is the token's size) and then stops reading, through
 * `onread`'s documented pause, so neither end's descriptor has bytes buffered in this process.
 */
export async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const { path, accepted } = await listen()
  return new Promise((resolve, reject) => {
    const token = Buffer.alloc(TOKEN_BYTES)
    let got = 0
    let settled = false
    const fail = (error: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      end.destroy()
      reject(error)
    }
    const timer = setTimeout(
      () => fail(new Error('the local socket pair did not connect')),
      PAIR_TIMEOUT_MS
    )
    const end: net.Socket = net.connect({
      path,
      allowHalfOpen: true,
      onread: {
        buffer: Buffer.alloc(TOKEN_BYTES),
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          const take = Math.min(bytes, TOKEN_BYTES - got)
          token.set(buffer.subarray(0, take), got)
          got += take
          if (got < TOKEN_BYTES) return true
          const key = token.toString('hex')
          const near = accepted.get(key)
          accepted.delete(key)
          if (near === undefined) fail(new Error('the local socket pair did not match'))
          else if (!settled) {
            settled = true
            clearTimeout(timer)
            resolve([end, near])
          }
          return false
        },
      },
    })
    end.on('error', (error) => fail(error))
  })
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
