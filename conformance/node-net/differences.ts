// node:net scenarios whose traces differ from workerd on purpose (also in docs/api.md, "node:net
// and node:tls"). Each entry records the differing trace lines it expects, as
// `differingLines()` prints them: the scenario passes only when exactly that difference is seen
// and neither side threw or timed out, and fails once it matches (the entry has gone stale).
// Any other difference fails the test.

export interface NetDifference {
  reason: string
  /** `- workerd: …` / `+ wharf:   …` pairs, position by position. */
  lines: string[]
}

const closesWrappedSocket =
  "when a TLSSocket made with { socket } closes, Wharf closes (destroys) the wrapped net.Socket, as Node does; workerd leaves it open and it never emits 'close', so pg's Client.end(), which waits for it, would hang"

export const netDifferences: Record<string, NetDifference> = {
  'tls-upgrade-before-connect': {
    reason: `as tls-upgrade-in-data-handler: the wrapped net.Socket emits 'close' when the TLSSocket closes`,
    lines: ['- workerd: <none>', '+ wharf:   plain:close false'],
  },
  'tls-upgrade-in-data-handler': {
    reason: closesWrappedSocket,
    lines: [
      '- workerd: after {"bytesRead":4,"plainDestroyed":false,"tlsDestroyed":true}',
      '+ wharf:   plain:close false',
      '- workerd: <none>',
      '+ wharf:   after {"bytesRead":4,"plainDestroyed":true,"tlsDestroyed":true}',
    ],
  },
  'tls-upgrade-peer-hangs-up': {
    reason:
      "as tls-upgrade-in-data-handler: when the upgrade fails, Wharf also closes the wrapped net.Socket ('close' false), which workerd leaves open; the TLSSocket's error (startTls()'s internal error) and close(true) match",
    lines: [
      '- workerd: after {"authorized":false,"tlsDestroyed":true}',
      '+ wharf:   plain:close false',
      '- workerd: <none>',
      '+ wharf:   after {"authorized":false,"tlsDestroyed":true}',
    ],
  },
  'net-server-listen': {
    reason:
      'workerd 1.20261117.1 lets a net.Server listen (a Worker-local listener); Wharf has nothing to accept connections from, so listen() emits ERR_WHARF_NET_SERVER_UNSUPPORTED',
    lines: [
      '- workerd: srv:listening',
      '+ wharf:   srv:error {"error":"Error","message":"net.Server.listen() is not supported by Wharf: a Worker cannot accept TCP connections","code":"ERR_WHARF_NET_SERVER_UNSUPPORTED"}',
      '- workerd: state {"address":{"address":"127.0.0.1","family":"IPv4","port":"number"},"listening":true}',
      '+ wharf:   state {"address":null,"listening":false}',
    ],
  },
  'net-module-shape': {
    reason:
      "workerd 1.20261117.1 also exports net.BoundSocket, an undocumented API for its Worker-local listeners, which Wharf does not; and Wharf's tls.rootCertificates are Node's bundled roots (what connect() trusts), where on workerd `Array.isArray(rootCertificates) && length > 10` is false",
    lines: [
      '- workerd: net-default ["BlockList","BoundSocket","Server","Socket","SocketAddress","Stream","_normalizeArgs","connect","createConnection","createServer","getDefaultAutoSelectFamily","getDefaultAutoSelectFamilyAttemptTimeout","isIP","isIPv4","isIPv6","setDefaultAutoSelectFamily","setDefaultAutoSelectFamilyAttemptTimeout"]',
      '+ wharf:   net-default ["BlockList","Server","Socket","SocketAddress","Stream","_normalizeArgs","connect","createConnection","createServer","getDefaultAutoSelectFamily","getDefaultAutoSelectFamilyAttemptTimeout","isIP","isIPv4","isIPv6","setDefaultAutoSelectFamily","setDefaultAutoSelectFamilyAttemptTimeout"]',
      '- workerd: rootCertificates false',
      '+ wharf:   rootCertificates true',
    ],
  },
}
