// node:net scenarios whose traces differ from workerd on purpose, with the reason (also in
// docs/api.md, "node:net and node:tls"). Any other difference fails the test.
export const netDifferences: Record<string, string> = {
  'tls-upgrade-before-connect':
    "as tls-upgrade-in-data-handler: the wrapped net.Socket emits 'close' when the TLSSocket closes",
  'tls-upgrade-in-data-handler':
    "when a TLSSocket made with { socket } closes, Wharf closes (destroys) the wrapped net.Socket, as Node does; workerd leaves it open and it never emits 'close', so pg's Client.end(), which waits for it, would hang",
  'tls-upgrade-peer-hangs-up':
    "as tls-upgrade-in-data-handler: when the upgrade fails, Wharf also closes the wrapped net.Socket ('close' false), which workerd leaves open; the TLSSocket's error (startTls()'s internal error) and close(true) match",
  'net-server-listen':
    'workerd 1.20261117.1 lets a net.Server listen (a Worker-local listener); Wharf has nothing to accept connections from, so listen() emits ERR_WHARF_NET_SERVER_UNSUPPORTED',
  'net-module-shape':
    "workerd 1.20261117.1 also exports net.BoundSocket, an undocumented API for its Worker-local listeners, which Wharf does not; and Wharf's tls.rootCertificates are Node's bundled roots (what connect() trusts), where on workerd `Array.isArray(rootCertificates) && length > 10` is false",
}
