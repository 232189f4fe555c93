/**
 * The memory the runtime's main thread shares with its watchdog thread: a heartbeat the event
 * loop bumps, the phase (starting or serving), the request currently entered, and one slot per
 * in-flight request (its connection's fd and whether its response has begun).
 */
export const HEARTBEAT = 0
export const PHASE = 1
/** 1 + the slot of the request whose handler was entered last (0: none). */
export const CURRENT = 2
/** The Worker's memory in KiB, set by the main thread once it is over the limit after a GC. */
export const MEMORY_OVER = 3
export const HEADER_INTS = 4
export const MAX_SLOTS = 2048
/** Per slot: fd (-1: free), state. */
export const SLOT_INTS = 2
export const STATE_FREE = 0
export const STATE_RUNNING = 1
/** The response's head is out: nothing more may be written for it. */
export const STATE_RESPONDING = 2

export const PHASE_STARTING = 0
export const PHASE_SERVING = 1

/** The file descriptor the supervisor reads the watchdog's reason from. */
export const REASON_FD = 4

export interface WatchdogData {
  readonly shared: SharedArrayBuffer
  readonly cpuMs: number
  readonly startupMs: number
  /** The Worker's memory limit (its heap and buffers, on top of the host's before it loaded). */
  readonly memoryBytes: number
}

export function sharedSize(): number {
  return (HEADER_INTS + MAX_SLOTS * SLOT_INTS) * Int32Array.BYTES_PER_ELEMENT
}
