// Normalisation applied to both traces before comparison: random error references, the ports of
// this run's servers, and (when the scenario says so) read chunk boundaries.
import type { Scenario, TraceEntry } from './types.js'

function mapValue(v: unknown, f: (s: string) => string, ports: Map<number, string>): unknown {
  if (typeof v === 'string') return f(v)
  if (typeof v === 'number') return ports.get(v) ?? v
  if (Array.isArray(v)) return v.map((x) => mapValue(x, f, ports))
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, x] of Object.entries(v)) out[key] = mapValue(x, f, ports)
    return out
  }
  return v
}

/** A chunk of bytes arriving: a socket read, or a node:net `data` event (`s:data`, …). */
const isRead = (event: string): boolean => event === 'read' || event.endsWith(':data')

function mergeReads(trace: TraceEntry[]): TraceEntry[] {
  const out: TraceEntry[] = []
  for (const e of trace) {
    const prev = out[out.length - 1]
    const v = e.value as { bytes?: unknown; text?: unknown } | undefined
    const pv = prev?.value as { bytes?: unknown; text?: unknown } | undefined
    if (
      isRead(e.event) &&
      prev?.event === e.event &&
      typeof v?.bytes === 'number' &&
      typeof pv?.bytes === 'number'
    ) {
      prev.value = {
        bytes: pv.bytes + v.bytes,
        text: `${String(pv.text)}${String(v.text)}`.slice(0, 200),
      }
    } else out.push({ ...e })
  }
  return out
}

export function normalize(
  scenario: Scenario,
  trace: TraceEntry[],
  servers: Record<string, { port: number }>
): TraceEntry[] {
  const ports = new Map<number, string>()
  for (const [name, s] of Object.entries(servers)) ports.set(s.port, `<port:${name}>`)
  const replace = (s: string): string => {
    let r = s.replace(/internal error; reference = \S+/g, 'internal error; reference = <id>')
    for (const [port, label] of ports)
      // Leading zeros are kept (a scenario may write the port as 0<port>).
      r = r.replace(new RegExp(`(?<!\\d)(0*)${port}(?!\\d)`, 'g'), `$1${label}`)
    return r
  }
  const mapped = trace.map((e) =>
    e.value === undefined
      ? { event: replace(e.event) }
      : { event: replace(e.event), value: mapValue(e.value, replace, ports) }
  )
  return scenario.mergeReads ? mergeReads(mapped) : mapped
}
