/**
 * Workers for Platforms' dispatch namespaces in one host. A Worker passed with `-c` whose config
 * sets `wharf.dispatch_namespace` is a user Worker of that namespace, by its `name` (as
 * `wrangler deploy --dispatch-namespace` puts a script there). A dispatcher's
 * `[[dispatch_namespaces]]` binding reaches the namespace's user Workers with
 * `env.BINDING.get(name)`, and a namespace's `outbound` Worker sits in front of every one of them
 * (their `fetch()` and `connect()`), as `wharf.outbound` does for one Worker. Read at start.
 */
import type { WorkerConfig } from '../config.js'
import { configError } from '../errors.js'
import type { RuntimeData } from '../protocol.js'

/** Each namespace's user Workers, by name, in a fixed order (the routes use their places). */
export type NamespaceMembers = ReadonlyMap<string, readonly string[]>

/**
 * Finds each namespace's user Workers and gives each the namespace's Outbound Worker. The
 * primary (the first) cannot be a user Worker: user Workers are reached through a dispatcher.
 */
export function resolveDispatch(
  workers: { name: string; config: WorkerConfig }[]
): NamespaceMembers {
  const members = new Map<string, string[]>()
  workers.forEach((w, i) => {
    const ns = w.config.services.namespace
    if (ns === undefined) return
    if (i === 0) {
      throw configError(
        w.config.file,
        'field "wharf.dispatch_namespace" is set on the primary Worker (the first -c); a user Worker is reached through a dispatcher\'s env.BINDING.get(), so pass it with another -c'
      )
    }
    members.set(ns, [...(members.get(ns) ?? []), w.name])
  })
  // One Outbound Worker per namespace, whichever dispatcher binds it.
  const outbound = new Map<string, { service: string; file: string }>()
  for (const w of workers) {
    for (const d of w.config.services.dispatch) {
      if (d.outbound === undefined) continue
      const other = outbound.get(d.namespace)
      if (other !== undefined && other.service !== d.outbound.service) {
        throw configError(
          w.config.file,
          `field "dispatch_namespaces" gives the namespace "${d.namespace}" the outbound Worker "${d.outbound.service}", but ${other.file} gives it "${other.service}"`
        )
      }
      outbound.set(d.namespace, { service: d.outbound.service, file: w.config.file })
    }
  }
  for (const w of workers) {
    const ns = w.config.services.namespace
    const o = ns === undefined ? undefined : outbound.get(ns)
    if (o === undefined) continue
    if (w.config.services.outbound !== undefined) {
      throw configError(
        w.config.file,
        `field "wharf.outbound" is set, but the Worker is in the dispatch namespace "${ns}", whose outbound Worker is "${o.service}"`
      )
    }
    w.config = {
      ...w.config,
      services: { ...w.config.services, outbound: { service: o.service, params: {} } },
    }
  }
  return members
}

/** What the dispatcher's runtime needs for its `dispatch_namespaces` bindings. */
export function dispatchRuntimeData(
  config: WorkerConfig,
  members: NamespaceMembers
): Pick<RuntimeData, 'dispatch'> {
  if (config.services.dispatch.length === 0) return {}
  return {
    dispatch: config.services.dispatch.map((d) => ({
      binding: d.binding,
      scripts: [...(members.get(d.namespace) ?? [])],
      parameters: [...(d.outbound?.parameters ?? [])],
    })),
  }
}
