/**
 * The tunnel edge of a host: started once for the Worker's `wharf.tunnels`, it accepts connectors
 * and gives the broker one route per `vpc_networks`/`vpc_services` binding. A route opens a flow
 * through the tunnel and hands back a socket the runtime can receive.
 */
import { readFileSync } from 'node:fs'
import type net from 'node:net'
import type tls from 'node:tls'
import type { TunnelEdge } from '@wharf/tunnel'
import { WharfConfigError, WharfTunnelError } from './errors.js'
import type { VpcBindingInfo } from './protocol.js'
import { passableEnd } from './socket-pair.js'
import type { HyperdriveBinding } from './config.js'
import type { OriginRoute } from './hyperdrive.js'
import type { VpcConfig, VpcServiceConfig } from './vpc-config.js'

/** Opens a connection for a binding; `hostname:port` is what the Worker asked for. */
export type Route = (hostname: string, port: number, signal: AbortSignal) => Promise<net.Socket>

/** One flow a binding asked for, and what came of it (for logs and metrics). */
export interface FlowEvent {
  readonly tunnel: string
  /** The `vpc_*` binding, or `hyperdrive:<B>` for a binding whose origin is a tcp service. */
  readonly binding: string
  readonly host: string
  readonly port: number
  /** denied: the connector's ingress rules refused it; failed: anything else (no connector, a limit, the target down). */
  readonly outcome: 'opened' | 'denied' | 'failed'
  readonly reason?: string
}

export interface StartedTunnels {
  readonly edge: TunnelEdge
  readonly routes: ReadonlyMap<string, Route>
  readonly bindings: readonly VpcBindingInfo[]
  /** The VPC service definitions (`wharf.tunnels.services`). */
  readonly services: readonly VpcServiceConfig[]
  /** A connection to a `tcp` VPC service through its tunnel, e.g. a hyperdrive origin. */
  dialService(serviceId: string, binding: string): (signal: AbortSignal) => Promise<net.Socket>
  close(): Promise<void>
}

/** A target or reason for one log line: it may come from Worker code, so no control characters. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 300)
}

/** The default report of a failed flow: one line naming the tunnel, the binding and the target. */
export function logFlowFailure(log: (line: string) => void): (event: FlowEvent) => void {
  return (event) => {
    if (event.outcome === 'opened') return
    log(
      `[wharf:tunnel] flow ${event.outcome}: tunnel ${event.tunnel}, binding ${event.binding}, ${printable(event.host)}:${event.port}: ${printable(event.reason ?? '')}`
    )
  }
}

export async function startTunnels(
  vpc: VpcConfig,
  log: (line: string) => void,
  onFlow: (event: FlowEvent) => void = logFlowFailure(log),
  env: NodeJS.ProcessEnv = process.env
): Promise<StartedTunnels | undefined> {
  const config = vpc.tunnels
  if (config === undefined) return undefined
  const read = (file: string, field: string): string => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new WharfConfigError(
        `wharf.tunnels.${field}: cannot read ${file}: ${(error as Error).message}`
      )
    }
  }
  const tunnels = config.tunnels.map((t) => ({
    id: t.id,
    keys: t.keys.map((k) => {
      const secret = k.secret ?? (k.secretEnv === undefined ? undefined : env[k.secretEnv])
      if (secret === undefined || secret === '') {
        throw new WharfConfigError(
          `wharf.tunnels: key ${t.id}/${k.id} reads ${k.secretEnv ?? 'secret_env'}, which is not set`
        )
      }
      return { id: k.id, secret, ...(k.notAfter === undefined ? {} : { notAfter: k.notAfter }) }
    }),
  }))
  let edge: TunnelEdge
  try {
    // Loaded only for a config with tunnels: it is a tenth of a second of every start otherwise.
    const { TunnelEdge } = await import('@wharf/tunnel')
    edge = await TunnelEdge.start({
      host: config.host,
      port: config.port,
      cert: read(config.certFile, 'cert'),
      key: read(config.keyFile, 'key'),
      tunnels,
      log,
    })
  } catch (error) {
    const code = (error as { code?: string }).code
    if (typeof code === 'string' && code.startsWith('ERR_TUNNEL_')) {
      throw new WharfConfigError(`wharf.tunnels: ${(error as Error).message}`, { cause: error })
    }
    throw new WharfTunnelError(
      `wharf.tunnels.listen ${config.host}:${config.port}: ${(error as Error).message}`,
      { cause: error }
    )
  }
  log(
    `[wharf:tunnel] edge listening on ${config.host}:${edge.address.port} for tunnels ${tunnels.map((t) => t.id).join(', ')}`
  )

  // Every flow is reported once, with the tunnel it went through.
  const open = async (
    tunnel: string,
    binding: string,
    host: string,
    port: number,
    signal: AbortSignal
  ): Promise<tls.TLSSocket> => {
    try {
      const flow = await edge.openFlow(tunnel, host, port, { signal })
      onFlow({ tunnel, binding, host, port, outcome: 'opened' })
      return flow
    } catch (error) {
      const denied =
        (error as { connectorCode?: unknown }).connectorCode === 'ERR_TUNNEL_INGRESS_DENIED'
      onFlow({
        tunnel,
        binding,
        host,
        port,
        outcome: denied ? 'denied' : 'failed',
        reason: (error as Error).message,
      })
      throw error
    }
  }
  const routes = new Map<string, Route>()
  const bindings: VpcBindingInfo[] = []
  for (const n of vpc.networks) {
    routes.set(n.binding, async (hostname, port, signal) =>
      passableEnd(await open(n.tunnel, n.binding, hostname, port, signal))
    )
    bindings.push({ binding: n.binding, kind: 'network' })
  }
  for (const s of vpc.services) {
    const service = config.services.find((d) => d.id === s.service)
    if (service === undefined) continue
    // A service reaches its configured host and port, whatever the Worker's URL names.
    routes.set(s.binding, async (_hostname, _port, signal) =>
      passableEnd(await open(service.tunnel, s.binding, service.host, service.port, signal))
    )
    bindings.push({
      binding: s.binding,
      kind: 'service',
      service: {
        type: service.type,
        host: service.host,
        port: service.port,
        https: service.https,
        certVerification: service.certVerification,
      },
    })
  }
  const dialService = (
    serviceId: string,
    binding: string
  ): ((signal: AbortSignal) => Promise<net.Socket>) => {
    const service = config.services.find((d) => d.id === serviceId)
    if (service?.type !== 'tcp') {
      throw new WharfConfigError(
        `${binding}: "${serviceId}" is not a tcp service of wharf.tunnels.services`
      )
    }
    return (signal) => open(service.tunnel, binding, service.host, service.port, signal)
  }
  return {
    edge,
    routes,
    bindings,
    services: config.services,
    dialService,
    close: () => edge.close(),
  }
}

/** For startHyperdrive: the route of each binding whose origin is a VPC service. */
export function originRoutes(
  tunnels: StartedTunnels | undefined
): (binding: HyperdriveBinding) => OriginRoute | undefined {
  return (binding) => {
    const id = binding.originService
    if (id === undefined) return undefined
    const service = tunnels?.services.find((s) => s.id === id)
    if (tunnels === undefined || service === undefined) {
      throw new WharfConfigError(
        `wharf.hyperdrive.${binding.binding}.service_id names no tcp service ("${id}")`
      )
    }
    return {
      host: service.host,
      port: service.port,
      description: `VPC service ${id} (tunnel ${service.tunnel})`,
      dial: tunnels.dialService(id, `hyperdrive:${binding.binding}`),
    }
  }
}
