// Runs a scenario in this Node process against `connect` from @wharf/sockets (TypeScript sources).
import { connect } from '../../packages/sockets/src/index.js'
import { makeKit, type KitEnv } from './kit.js'
import type { Kit, RunResult, Scenario, ServerView, TraceEntry } from './types.js'

export async function runInNode(
  scenario: Scenario,
  servers: KitEnv['servers'],
  serverView: (name: string, until: string | undefined, timeoutMs: number) => Promise<ServerView>,
  ca: string
): Promise<RunResult> {
  const started = performance.now()
  const trace: TraceEntry[] = []
  // The Node-only `ca` option is the one thing a TLS scenario needs that workerd gets from its
  // config; it is added here (on a prototype-chained copy so option reads still hit the original).
  const plain = connect as unknown as Kit['connect']
  const run: Kit['connect'] = scenario.tls
    ? (...args) => {
        const [address, options, ...rest] = args
        const withCa: unknown =
          args.length < 2 || options === undefined
            ? { ca }
            : typeof options === 'object' && options !== null
              ? Object.assign(Object.create(options) as object, { ca })
              : options
        return plain(address, withCa, ...rest)
      }
    : plain
  const k = makeKit({ connect: run, servers, serverView }, trace)
  const timeoutMs = scenario.timeoutMs ?? 10_000
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  const result = await Promise.race([
    scenario.run(k, structuredClone(scenario.params ?? {})).then(
      () => 'done' as const,
      (e: unknown) => {
        trace.push({ event: 'scenario-threw', value: k.describe(e) })
        return 'done' as const
      }
    ),
    timeout,
  ])
  clearTimeout(timer)
  if (result === 'timeout') trace.push({ event: 'scenario-timeout' })
  return { trace, ms: performance.now() - started }
}
