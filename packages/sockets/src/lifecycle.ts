/**
 * The socket's lifecycle phase: one value instead of a set of overlapping flags.
 *
 *   Connecting ──► Open ──► Closing ──► Closed        (close())
 *       │           ├─────► Lost                       (RST, EPIPE on a live connection)
 *       │           ├─────► Ended                      (peer EOF with allowHalfOpen false)
 *       │           └─────► Upgraded                   (startTls() took the connection)
 *       ├─────────────────► Failed                     (connect, or the StartTLS handshake)
 *       └─────────────────► Closing                    (close() before opened)
 *
 * `close()` may be called in any phase but `Closing`/`Closed`; from a terminal phase it only
 * settles the streams (the transport is already gone). While `Closing`, a transport ending
 * (connect failure, EOF close, takeover) is recorded as the phase the socket would otherwise be
 * in, so "is the connection gone" and "was it reported" stay answerable from the phase alone.
 */
import assert from 'node:assert'

export const Phase = {
  Connecting: 0,
  Open: 1,
  Closing: 2,
  Closed: 3,
  Failed: 4,
  Lost: 5,
  Ended: 6,
  Upgraded: 7,
} as const
export type Phase = (typeof Phase)[keyof typeof Phase]
/** A phase in which the transport ended without `close()`. */
export type TransportEnd =
  typeof Phase.Failed | typeof Phase.Lost | typeof Phase.Ended | typeof Phase.Upgraded

/** The transport ended without `close()` (it may still be closed, which only settles streams). */
export function isTransportEnd(phase: Phase): phase is TransportEnd {
  return phase >= Phase.Failed
}

/** Connecting or Open: the transport is ours and alive (or about to be). */
export function isLive(phase: Phase): boolean {
  return phase <= Phase.Open
}

const allowed: Readonly<Record<Phase, readonly Phase[]>> = {
  [Phase.Connecting]: [Phase.Open, Phase.Closing, Phase.Failed],
  [Phase.Open]: [Phase.Closing, Phase.Lost, Phase.Ended, Phase.Upgraded],
  [Phase.Closing]: [Phase.Closed],
  [Phase.Closed]: [],
  [Phase.Failed]: [Phase.Closing],
  [Phase.Lost]: [Phase.Closing],
  [Phase.Ended]: [Phase.Closing],
  [Phase.Upgraded]: [Phase.Closing],
}

/** Asserts a transition is one the diagram above allows (a bug otherwise, never user input). */
export function assertTransition(from: Phase, to: Phase): void {
  assert(allowed[from].includes(to), `socket phase ${from} -> ${to} is not a transition`)
}
