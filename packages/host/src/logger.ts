/**
 * Request log lines, batched: one write per event-loop turn instead of one per request, so
 * logging every request (as wrangler dev does) stays cheap under load. Bounded: a full batch is
 * written at once.
 */
// The real process, by import: in the runtime, Worker code may replace globalThis.process.
import process from 'node:process'

const MAX_BATCH = 512

let batch: string[] = []
let scheduled = false

function flush(): void {
  scheduled = false
  if (batch.length === 0) return
  const text = batch.join('')
  batch = []
  process.stdout.write(text)
}

export function logLine(line: string): void {
  batch.push(line + '\n')
  if (batch.length >= MAX_BATCH) flush()
  else if (!scheduled) {
    scheduled = true
    setImmediate(flush)
  }
}

export function flushLog(): void {
  flush()
}
