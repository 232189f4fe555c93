/**
 * The runtime's watchdog, a worker thread: it keeps running when Worker code holds the main
 * thread in a synchronous loop. When the heartbeat stops for longer than the CPU limit (or the
 * start-up limit), or the Worker's memory passes its limit, it answers the in-flight requests
 * itself (Error 1102 for the one that ran, a notice for the others), writing straight to their
 * connections' file descriptors, tells the supervisor why on fd 4, and kills the process.
 *
 * Memory is what Workers count: the isolate's heap and its buffers, measured by the main thread
 * (serve-runtime.ts), which sets MEMORY_OVER only when still over after a full GC. Resident memory
 * is no measure of that (Node 24's RSS grew 78 MB over 3,600 healthy requests, Node 20's 50 MB:
 * allocator arenas and heap pages not yet returned), so it is only the backstop here, at twice the
 * limit plus 64 MB, for buffers grown by a main thread that never yields.
 */
import { writeSync } from 'node:fs'
import { workerData } from 'node:worker_threads'
import { cutByOther, error1102 } from './limit-pages.js'
import {
  CURRENT,
  HEADER_INTS,
  HEARTBEAT,
  MAX_SLOTS,
  MEMORY_OVER,
  PHASE,
  PHASE_STARTING,
  REASON_FD,
  SLOT_INTS,
  STATE_RUNNING,
  type WatchdogData,
} from './watchdog-shared.js'

const POLL_MS = 20
/** A main thread blocked this many times its CPU limit (plus the grace) in wall time is stuck. */
const WALL_FACTOR = 4
const WALL_GRACE_MS = 10_000
/** What resident memory may hold beyond twice the limit (allocator arenas, code, stacks). */
const RSS_SLACK_BYTES = 64 * 1048576
const data = workerData as WatchdogData
const view = new Int32Array(data.shared)
// The process before the Worker loaded (Node, the host): the Worker's memory is what it adds.
const rssLimit = process.memoryUsage.rss() + 2 * data.memoryBytes + RSS_SLACK_BYTES
const limitMb = Math.round(data.memoryBytes / 1048576)

function write(fd: number, text: string): void {
  try {
    writeSync(fd, text)
  } catch {
    // The client left, or its buffer is full: it gets the connection's reset instead.
  }
}

function stop(kind: 'cpu' | 'memory' | 'startup', detail: string): never {
  const current = Atomics.load(view, CURRENT) - 1
  const cut: { slot: number; fd: number }[] = []
  if (kind !== 'startup') {
    for (let slot = 0; slot < MAX_SLOTS; slot++) {
      const base = HEADER_INTS + slot * SLOT_INTS
      if (Atomics.load(view, base + 1) !== STATE_RUNNING) continue
      const fd = Atomics.load(view, base)
      if (fd >= 0) cut.push({ slot, fd })
    }
  }
  // The supervisor first: it stops handing this process connections before clients hear back.
  write(REASON_FD, `${kind} ${detail}; requests cut: ${cut.length}\n`)
  if (kind !== 'startup') {
    for (const { slot, fd } of cut) {
      const culprit = kind === 'memory' || slot === current
      write(fd, culprit ? error1102(kind) : cutByOther(kind))
    }
  }
  process.kill(process.pid, 'SIGKILL')
  // kill(2) of our own process does not return; should it, the supervisor's backstop ends it.
  for (;;) Atomics.wait(view, HEARTBEAT, Atomics.load(view, HEARTBEAT), 1000)
}

/** CPU time of the whole process (the main thread's, plus this thread's few microseconds). */
function cpuMs(): number {
  const used = process.cpuUsage()
  return (used.user + used.system) / 1000
}

let beat = Atomics.load(view, HEARTBEAT)
let since = performance.now()
let cpuSince = cpuMs()
for (;;) {
  Atomics.wait(view, HEARTBEAT, beat, POLL_MS)
  const now = performance.now()
  const next = Atomics.load(view, HEARTBEAT)
  if (next !== beat) {
    beat = next
    since = now
    cpuSince = cpuMs()
  }
  const starting = Atomics.load(view, PHASE) === PHASE_STARTING
  const limit = starting ? data.startupMs : data.cpuMs
  // CPU spent since the event loop last turned: a loaded machine that merely starves the
  // process of CPU is not a Worker over its limit. The wall-clock bound catches a main thread
  // blocked without using CPU (Atomics.wait), far later.
  const spent = cpuMs() - cpuSince
  const blocked = now - since
  if (spent > limit || blocked > limit * WALL_FACTOR + WALL_GRACE_MS) {
    stop(
      starting ? 'startup' : 'cpu',
      starting
        ? `the Worker's global scope ran ${Math.round(spent)} ms of CPU without yielding (start-up limit ${limit} ms)`
        : `the Worker held the event loop for ${Math.round(spent)} ms of CPU, ${Math.round(blocked)} ms in all (limits.cpu_ms ${limit})`
    )
  }
  const overKiB = Atomics.load(view, MEMORY_OVER)
  if (overKiB > 0) {
    stop(
      'memory',
      `the Worker's heap and buffers hold ${Math.round(overKiB / 1024)} MB after a full GC, over its limit of ${limitMb} MB`
    )
  }
  const rss = process.memoryUsage.rss()
  if (rss > rssLimit) {
    stop(
      'memory',
      `resident memory ${Math.round(rss / 1048576)} MB over the backstop of ${Math.round(rssLimit / 1048576)} MB (the Worker's limit is ${limitMb} MB)`
    )
  }
}
