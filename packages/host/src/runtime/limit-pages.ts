/**
 * The raw HTTP responses the host writes when a limit stops a request: Cloudflare's Error 1102
 * page (HTTP 503, "Worker exceeded resource limits") and the host's own notices. Raw bytes,
 * because they are written straight to a connection's file descriptor by the runtime's watchdog
 * thread (the event loop that owns the connection is stuck) or by the supervisor.
 */

function raw(status: number, reason: string, type: string, body: string): string {
  const bytes = Buffer.byteLength(body)
  return (
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${type}\r\ncontent-length: ${bytes}\r\n` +
    `connection: close\r\ncache-control: no-store\r\n\r\n${body}`
  )
}

/** Cloudflare's Error 1102 (CPU or memory limit), as a 503 with an HTML page. */
export function error1102(kind: 'cpu' | 'memory'): string {
  const what =
    kind === 'cpu'
      ? 'The Worker ran past its CPU time limit (limits.cpu_ms) and was stopped.'
      : 'The Worker’s runtime went over its memory limit and was stopped.'
  const body =
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<title>Worker exceeded resource limits</title></head><body>' +
    '<h1>Error 1102</h1><h2>Worker exceeded resource limits</h2>' +
    `<p>${what}</p><p>wharf serve</p></body></html>\n`
  return raw(503, 'Service Unavailable', 'text/html; charset=UTF-8', body)
}

/** For the other requests a stopped runtime process was serving. */
export function cutByOther(kind: 'cpu' | 'memory' | 'exit'): string {
  const why =
    kind === 'cpu'
      ? 'another request in it exceeded its CPU time limit'
      : kind === 'memory'
        ? 'it exceeded its memory limit'
        : 'it exited'
  return raw(
    503,
    'Service Unavailable',
    'text/plain; charset=utf-8',
    `wharf: this request was cut: the Worker's runtime process was stopped because ${why}; retry\n`
  )
}

/** No runtime could take the connection in time (all busy, stuck or restarting). */
export function overloaded(waitedMs: number): string {
  return raw(
    503,
    'Service Unavailable',
    'text/plain; charset=utf-8',
    `wharf: no Worker runtime was free to take this request within ${waitedMs} ms; retry\n`
  )
}
