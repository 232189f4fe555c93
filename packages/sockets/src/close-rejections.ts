/**
 * workerd logs a promise rejection that nobody handled; Node ends the process. Drivers written for
 * Workers leave exactly such a rejection behind when they close a connection: a read still pending
 * when they call `socket.close()` rejects (as in workerd) with "This socket has been closed.", and
 * they turn it into an `'error'` event that nobody listens to any more (pg through pg-cloudflare,
 * postgres.js's Workers build: porsager/postgres#1202 is the same leak on Workers).
 *
 * Under the register entry, that one rejection is logged (`NODE_DEBUG=wharf-sockets`), as workerd
 * does, instead of ending the process. Every other unhandled rejection keeps Node's behaviour,
 * including `--unhandled-rejections=<mode>` and the application's own listeners.
 *
 * @module
 */
import { inspect } from 'node:util'
import { debug } from './diagnostics.js'
import { SOCKET_CLOSED } from './messages.js'

/** The rejection of I/O that was pending or attempted after `close()`: workerd's exact error. */
export function isSocketClosedRejection(reason: unknown): boolean {
  return reason instanceof TypeError && reason.message === SOCKET_CLOSED
}

/** `--unhandled-rejections` as Node applies it (command line over NODE_OPTIONS; default throw). */
function unhandledRejectionsMode(): string {
  const flags = [...(process.env.NODE_OPTIONS ?? '').split(/\s+/), ...process.execArgv]
  let mode = 'throw'
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] ?? ''
    if (flag.startsWith('--unhandled-rejections=')) mode = flag.slice(23)
    else if (flag === '--unhandled-rejections') mode = flags[++i] ?? mode
  }
  return mode
}

function unhandledRejectionError(reason: unknown): Error {
  // Node's own wording for a non-Error reason (lib/internal/process/promises.js).
  const error = new Error(
    'This error originated either by throwing inside of an async function without a catch ' +
      'block, or by rejecting a promise which was not handled with .catch(). The promise ' +
      `rejected with the reason "${typeof reason === 'string' ? reason : inspect(reason)}".`
  )
  return Object.assign(error, { code: 'ERR_UNHANDLED_REJECTION' })
}

function onUnhandledRejection(reason: unknown): void {
  if (isSocketClosedRejection(reason)) {
    debug('unhandled rejection after close() (workerd only logs it): %s', (reason as Error).stack)
    return
  }
  // Another listener is the application's own decision: leave the rejection to it.
  if (process.listenerCount('unhandledRejection') > 1) return
  // With a listener installed, Node no longer applies its default: apply it here.
  switch (unhandledRejectionsMode()) {
    case 'throw':
      throw reason instanceof Error ? reason : unhandledRejectionError(reason)
    case 'warn-with-error-code':
      process.exitCode = 1
      process.emitWarning(reason instanceof Error ? reason : unhandledRejectionError(reason))
      return
    default:
      // strict throws before listeners run; warn and none need nothing from a listener.
      return
  }
}

let installed = false

/** Installs the process listener (once per thread). */
export function logSocketClosedRejections(): void {
  if (installed) return
  installed = true
  process.on('unhandledRejection', onUnhandledRejection)
}
