// workerd's exact Worker-visible strings for request scoping (workerd 1.20261117.1, measured
// against tools/workerd). Host-only messages are ours. All are listed in docs/errors.md, "Host".

export const GLOBAL_SCOPE =
  'Disallowed operation called within global scope. Asynchronous I/O (ex: fetch() or connect()), setting a timeout, and generating random values are not allowed within global scope. To fix this error, perform this operation within a handler. https://developers.cloudflare.com/workers/runtime-apis/handlers/'

export const crossRequest = (kind: string): string =>
  `Cannot perform I/O on behalf of a different request. I/O objects (such as streams, request/response bodies, and others) created in the context of one request handler cannot be accessed from a different request's handler. This is a limitation of Cloudflare Workers which allows us to improve overall performance. (I/O type: ${kind})`

/** Ours: a queued `connect()` waited longer than the host allows (fails `opened`/`closed`). */
export const queueTimeout = (ms: number, limit: number): string =>
  `wharf: connect() waited ${ms} ms in the queue for a free socket slot (at most ${limit} open sockets per request; close one, or raise wharf.limits.queueTimeoutMs)`

/** Ours: the host-wide queue of waiting sockets is full. */
export const QUEUE_FULL = 'wharf: too many connect() calls are waiting for a free socket slot'

/** Ours: the request ended while the socket was still waiting for a slot. */
export const REQUEST_ENDED = 'wharf: the request ended before this socket could connect'
