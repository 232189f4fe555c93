/**
 * The runtime side of the dial relay (../dial-relay.ts): one listening socket on this network
 * namespace's loopback, handed to the supervisor at start-up, and dials that are plain loopback
 * connects to it with the target in a first frame. No IPC message and no descriptor passing per
 * connection, so dials run in parallel.
 */
import net, { type Socket } from 'node:net'
import { WharfDialError } from '../errors.js'
import { MAX_REPLY_BYTES, encodeRequest, parseReply } from '../relay-frame.js'

/** Beyond the supervisor's own connect timeout: its answer is late only if something is wrong. */
const REPLY_GRACE_MS = 2000
const EMPTY: Buffer = Buffer.alloc(0)
export let UNIX: string | undefined

/**
 * Listens on 127.0.0.1 of this namespace. Rejects where the namespace has no usable loopback
 * (`unshare --net` leaves `lo` down): the caller then dials over IPC.
 */
export function listenForRelay(unix = false): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    // The supervisor accepts; until this copy is closed, nothing here may (no one dials yet).
    const path = unix ? `\0wharf-relay-${process.pid}-${Math.random()}` : undefined
    const opts = path ? { path, backlog: 511 } : { host: '127.0.0.1', port: 0, backlog: 511 }
    server.listen(opts, () => {
      server.off('error', reject)
      UNIX = path
      resolve(server)
    })
  })
}

export type RelayDialer = (
  target: { hostname: string; port: number },
  signal?: AbortSignal,
  via?: string
) => Promise<Socket>

function abortReason(signal: AbortSignal | undefined): Error {
  return signal?.reason instanceof Error ? signal.reason : new Error('aborted')
}

/** Dials through the relay listening on `port`, proving itself with `secret`. */
export function relayDialer(port: number, secret: Buffer, connectTimeoutMs: number): RelayDialer {
  return (target, signal, via) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal))
        return
      }
      let frame: Buffer
      try {
        frame = encodeRequest(secret, { hostname: target.hostname, port: target.port, via })
      } catch (error) {
        reject(new WharfDialError((error as Error).message))
        return
      }
      const socket =
        UNIX !== undefined
          ? net.connect({ path: UNIX, allowHalfOpen: true })
          : net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true })
      socket.write(frame)
      let buffered: Buffer = EMPTY
      let done = false
      const finish = (error?: Error): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.off('data', onData)
        socket.off('error', onError)
        socket.off('end', onEnd)
        if (error === undefined) return
        socket.destroy()
        reject(error)
      }
      const onAbort = (): void => finish(abortReason(signal))
      const onError = (error: Error): void =>
        finish(new WharfDialError(`the host's dial relay failed: ${error.message}`))
      const onEnd = (): void => finish(new WharfDialError('the host closed the dial relay'))
      const onData = (chunk: Buffer): void => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        const reply = parseReply(buffered)
        if (reply.kind === 'partial') {
          if (buffered.length > MAX_REPLY_BYTES) onEnd()
          return
        }
        if (reply.kind === 'bad') {
          finish(new WharfDialError('the host sent a malformed dial reply'))
          return
        }
        if (reply.kind === 'refused') {
          finish(new WharfDialError(reply.reason, reply.workerMessage))
          return
        }
        finish()
        socket.pause()
        // The upstream's first bytes (a server greeting) may share the chunk with the status.
        if (buffered.length > reply.used) socket.unshift(buffered.subarray(reply.used))
        resolve(socket)
      }
      const timer = setTimeout(
        () => finish(new WharfDialError('the host did not answer the dial in time')),
        connectTimeoutMs + REPLY_GRACE_MS
      )
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.on('data', onData)
      socket.on('error', onError)
      socket.on('end', onEnd)
    })
}
