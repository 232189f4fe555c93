// What the socket benchmark measures. Sizes are per run; `quick` sizes are for smoke runs only.
const MiB = 1024 * 1024

export const PEERS = [
  { id: 'node', label: 'node:net/tls' },
  { id: 'wharf', label: '@wharf/sockets' },
  { id: 'arrowood', label: '@arrowood.dev/socket' },
  { id: 'workerd', label: 'workerd connect()' },
]

/**
 * kind: the driver function (cf-scenarios.js / node-scenarios.mjs); port: which load server.
 * Memory has two rows fed by one measurement (`metric`).
 */
export const SCENARIOS = [
  bulk('recv-64k', 'Receive, 64 KiB writes', 'recv', 'source', 65536, 256, 32),
  bulk('recv-4k', 'Receive, 4 KiB writes', 'recv', 'source', 4096, 64, 8),
  bulk('send-64k', 'Send, 64 KiB writes', 'send', 'sink', 65536, 256, 32),
  bulk('send-4k', 'Send, 4 KiB writes', 'send', 'sink', 4096, 64, 8),
  bulk('tls-recv-64k', 'TLS receive, 64 KiB writes', 'recv', 'tlsSource', 65536, 128, 16, true),
  bulk('tls-send-64k', 'TLS send, 64 KiB writes', 'send', 'tlsSink', 65536, 128, 16, true),
  {
    id: 'roundtrip-16b',
    title: '16-byte round trips, one connection',
    kind: 'roundtrip',
    port: 'echo',
    unit: 'round trips/s',
    params: (quick) => ({ count: quick ? 2000 : 20_000 }),
  },
  setup('setup-plain', 'Connection setup (connect → opened → close)', 'echo', 2000, 300, false),
  setup('setup-tls', 'TLS connection setup (connect → opened → close)', 'tlsEcho', 500, 100, true),
  lifecycle('lifecycle-1', 1, 2000, 1000),
  lifecycle('lifecycle-8', 8, 4000, 1500),
  {
    id: 'idle-memory',
    title: 'Idle sockets',
    kind: 'hold',
    port: 'echo',
    params: () => ({ count: 2000 }),
    rows: [
      { metric: 'heapPerSocket', title: 'Heap per idle socket (2,000 open)', unit: 'bytes' },
      { metric: 'rssPerSocket', title: 'RSS per idle socket (2,000 open)', unit: 'bytes' },
    ],
    lowerIsBetter: true,
  },
]

function bulk(id, title, kind, port, chunk, fullMiB, quickMiB, tls = false) {
  return {
    id,
    title,
    kind,
    port,
    unit: 'MiB/s',
    params: (quick) => ({ chunk, bytes: (quick ? quickMiB : fullMiB) * MiB, tls }),
  }
}

function setup(id, title, port, full, quick, tls) {
  return {
    id,
    title,
    kind: 'setup',
    port,
    unit: 'connections/s',
    params: (q) => ({ count: q ? quick : full, concurrency: 4, tls }),
    rows: [
      { metric: undefined, title, unit: 'connections/s' },
      {
        metric: 'cpuUsPerOp',
        title: `${tls ? 'TLS connection setup' : 'Connection setup'}: client CPU per connection`,
        unit: 'µs (whole process)',
        lowerIsBetter: true,
      },
    ],
  }
}

/** A Worker's per-request socket: connect → 16-byte request/answer → close, `c` at a time. */
function lifecycle(id, c, full, quick) {
  return {
    id,
    kind: 'lifecycle',
    port: 'echo',
    unit: 'requests/s',
    params: (q) => ({ count: q ? quick : full, concurrency: c }),
    rows: [
      {
        metric: undefined,
        title: `Per-request socket (connect, 16-byte echo, close), ${c} in flight`,
        unit: 'requests/s',
      },
      {
        metric: 'cpuUsPerOp',
        title: `Per-request socket, ${c} in flight: CPU per request`,
        unit: 'µs (whole process)',
        lowerIsBetter: true,
      },
    ],
  }
}

/** The figure a run yields: MiB/s for byte counts, operations/s for counts. */
export function figureOf(result) {
  if (result.bytes !== undefined) return result.bytes / MiB / (result.ms / 1000)
  return result.ops / (result.ms / 1000)
}
