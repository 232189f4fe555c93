/**
 * The runtime side of the dial broker: asks the supervisor to open a connection and receives the
 * connected socket as a passed file descriptor. Used for `cloudflare:sockets` and for `fetch()`,
 * so both go through the same egress policy, outside this process.
 */
import type { Socket } from 'node:net'
import tls from 'node:tls'
import { unbracketHost } from '@wharf/sockets/runtime'
import { setLazyGlobalDispatcher, undici } from './lazy-undici.js'
import { WharfDialError } from '../errors.js'
import type { DialReply, DialRequest } from '../protocol.js'
import { sendDialRequest } from './supervisor-link.js'

interface Waiter {
  resolve(socket: Socket): void
  reject(error: Error): void
}

const waiting = new Map<number, Waiter>()
let nextId = 0
/** `wharf serve`: the socket closes not yet reported, which each dial request carries. */
let takeClosed: (() => number) | undefined

/** Every dial request carries the closes `take` returns (`wharf serve`'s host-wide count). */
export function carryClosesWith(take: () => number): void {
  takeClosed = take
}

/** Feeds a supervisor message to the client; returns false if it was not a dial reply. */
export function onDialReply(message: unknown, handle: Socket | undefined): boolean {
  const reply = message as Partial<DialReply> | null
  if (reply?.t !== 'dialed' || typeof reply.id !== 'number') return false
  const waiter = waiting.get(reply.id)
  waiting.delete(reply.id)
  if (!waiter) {
    // Timed out or aborted here meanwhile: the connection has no owner.
    handle?.destroy()
    return true
  }
  if (reply.ok === true && handle !== undefined) waiter.resolve(handle)
  else {
    waiter.reject(
      new WharfDialError(reply.reason ?? 'the host refused the connection', reply.workerMessage)
    )
  }
  return true
}

/** Asks the supervisor for a connection to `hostname:port`. Honours `signal`. */
export function dial(
  target: { hostname: string; port: number },
  signal?: AbortSignal,
  via?: string
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      return
    }
    nextId = (nextId + 1) % 2 ** 31
    const id = nextId
    const onAbort = (): void => {
      waiting.delete(id)
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    waiting.set(id, {
      resolve: (socket) => {
        signal?.removeEventListener('abort', onAbort)
        resolve(socket)
      },
      reject: (error) => {
        signal?.removeEventListener('abort', onAbort)
        reject(error)
      },
    })
    const closed = takeClosed?.() ?? 0
    const request: DialRequest = {
      t: 'dial',
      id,
      hostname: target.hostname,
      port: target.port,
      ...(via === undefined ? {} : { via }),
      ...(closed > 0 ? { closed } : {}),
    }
    if (!sendDialRequest(request)) {
      waiting.delete(id)
      signal?.removeEventListener('abort', onAbort)
      reject(new Error('no supervisor to dial through'))
    }
  })
}

/** Every `fetch()` of the Worker connects through `open` too (TLS is added here). */
export function routeFetchThrough(
  open: (target: { hostname: string; port: number }, signal?: AbortSignal) => Promise<Socket>,
  connectTimeoutMs: number
): void {
  setLazyGlobalDispatcher(
    () =>
      new (undici().Agent)({
        connectTimeout: connectTimeoutMs,
        connect: (options, callback) => {
          const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80)
          const hostname = unbracketHost(options.hostname)
          open({ hostname, port }, AbortSignal.timeout(connectTimeoutMs)).then(
            (socket) => {
              if (options.protocol !== 'https:') {
                callback(null, socket)
                return
              }
              const secure = tls.connect({
                socket,
                servername: options.servername ?? hostname,
                ALPNProtocols: ['http/1.1'],
              })
              secure.once('secureConnect', () => callback(null, secure))
              secure.once('error', (error: Error) => callback(error, null))
            },
            (error: Error) => callback(error, null)
          )
        },
      })
  )
}
