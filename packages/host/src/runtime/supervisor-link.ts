/**
 * The runtime's line to the supervisor. Messages come on Node's IPC channel and, isolated with
 * the native module built, on the fd channel (fd-channel.ts), which carries dial requests and
 * every message with a socket; both feed the same listeners, in the order each channel delivers.
 */
import type { Socket } from 'node:net'
// The real process, by import: Worker code may replace globalThis.process (unenv's polyfill does).
import process from 'node:process'
import { FdChannel, socketFromFd } from '../fd-channel.js'
import type { DialRequest, ToRuntime } from '../protocol.js'

type Listener = (message: ToRuntime, handle: Socket | undefined) => void

const listeners: Listener[] = []
let channel: FdChannel | undefined

/** The messages that come with a socket; a descriptor with any other message is closed. */
const CARRIES_SOCKET = new Set(['dialed', 'conn', 'inbound'])

/**
 * Every listener gets the message even when one throws (Worker code can run inside a listener,
 * e.g. a socket's event handlers); the first throw is passed on afterwards, to be reported as
 * the process's uncaught exception.
 */
function dispatch(message: ToRuntime, handle: Socket | undefined): void {
  let thrown: { error: unknown } | undefined
  for (const listener of listeners) {
    try {
      listener(message, handle)
    } catch (error) {
      thrown ??= { error }
    }
  }
  if (thrown !== undefined) throw thrown.error
}

process.on('message', (message: ToRuntime, handle?: Socket) => dispatch(message, handle))

/** Calls `listener` with every supervisor message, from either channel. */
export function onSupervisorMessage(listener: Listener): void {
  listeners.push(listener)
}

/**
 * Listens on the fd channel at descriptor `fd` (RuntimeData.fdChannel). Returns whether it is
 * open: if the native module cannot load here, the IPC channel carries everything.
 */
export function openFdChannel(fd: number): boolean {
  try {
    channel = new FdChannel(
      fd,
      (message, received) => {
        const t = (message as { t?: unknown } | null)?.t
        if (typeof message !== 'object' || message === null || typeof t !== 'string') return false
        const takes = received !== undefined && CARRIES_SOCKET.has(t)
        dispatch(message as ToRuntime, takes ? socketFromFd(received) : undefined)
        return takes
      },
      () => {
        channel = undefined
      }
    )
    return true
  } catch (error) {
    console.error(`[wharf:warn] the fd channel did not open: ${(error as Error).message}`)
    return false
  }
}

/** Sends a dial request on the fd channel, or on the IPC channel; false if neither is there. */
export function sendDialRequest(request: DialRequest): boolean {
  if (channel?.send(request) === true) return true
  if (process.send === undefined) return false
  process.send(request)
  return true
}
