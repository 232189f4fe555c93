// node:net scenarios whose traces differ from workerd on purpose, with the reason (also in
// docs/api.md, "node:net and node:tls"). Any other difference fails the test.
export const netDifferences: Record<string, string> = {
  'net-server-listen':
    'workerd 1.20261117.1 lets a net.Server listen (a Worker-local listener); Wharf has nothing to accept connections from, so listen() emits ERR_WHARF_NET_SERVER_UNSUPPORTED',
  'net-module-shape':
    "workerd 1.20261117.1 also exports net.BoundSocket, an undocumented API for its Worker-local listeners, which Wharf does not; and Wharf's tls.rootCertificates are Node's bundled roots (what connect() trusts), where on workerd `Array.isArray(rootCertificates) && length > 10` is false",
}
