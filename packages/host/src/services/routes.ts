/**
 * Names of the broker routes (`DialRequest.via`) that reach another Worker of the host, shared by
 * the runtime (which asks) and the supervisor (which answers). A prefix keeps them apart from
 * `vpc_*` bindings' routes, which are bare binding names.
 */

/** `env.BINDING.connect()`: a socket to the bound Worker's connect() handler. */
export const connectRoute = (binding: string): string => `svc:${binding}`
/** `env.BINDING.fetch()`: an HTTP connection to the bound Worker's fetch() handler. */
export const fetchRoute = (binding: string): string => `svc+http:${binding}`
/**
 * A user Worker of a dispatch namespace, by the binding's and the script's places in the
 * runtime's list (short: the broker bounds route names). `#` keeps them apart from bindings.
 */
export const dispatchConnectRoute = (binding: number, script: number): string =>
  `svc:#${binding}/${script}`
export const dispatchFetchRoute = (binding: number, script: number): string =>
  `svc+http:#${binding}/${script}`
/** The Outbound Worker's connect() handler (the user Worker's `connect()`). */
export const OUTBOUND_CONNECT = 'outbound:connect'
/** Whether a route is a service binding's connect() (no TLS over it, as in workerd). */
export const reachesConnectHandler = (via: string): boolean => via.startsWith('svc:')

/** The Outbound Worker's fetch() handler (the user Worker's `fetch()`). */
export const OUTBOUND_FETCH = 'outbound:http'

/**
 * The request header that carries a service binding's request URL (scheme and host included) to
 * the callee, whose HTTP connection is local. Read only on service connections, then removed.
 */
export const URL_HEADER = 'x-wharf-service-url'

/**
 * The request header that carries a dispatch's outbound parameters (JSON) from the dispatcher to
 * the user Worker, and from the user Worker's `fetch()` to its Outbound Worker, whose `env` gets
 * them for that request. Set by the host only (a Worker's own is removed), then removed.
 */
export const OUTBOUND_PARAMS_HEADER = 'x-wharf-outbound-params'
/** Bound on those parameters as JSON. */
export const MAX_OUTBOUND_PARAMS = 65_536

/** The address the caller passed, as workerd gives it to the handler (`opened.localAddress`). */
export function authority(hostname: string, port: number): string {
  return hostname.includes(':') ? `[${hostname}]:${port}` : `${hostname}:${port}`
}
