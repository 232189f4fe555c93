/**
 * The tunnel edge of a host: started once for the Worker's `wharf.tunnels`, it accepts connectors
 * and gives the broker one route per `vpc_networks`/`vpc_services` binding. A route opens a flow
 * through the tunnel and hands back a socket the runtime can receive.
 */
import { readFileSync } from 'node:fs'
import type net from 'node:net'
import type { TunnelEdge } from '@wharf/tunnel'
import { WharfError } from './errors.js'
import type { VpcBindingInfo } from './protocol.js'
import { passableEnd } from './socket-pair.js'
import type { VpcConfig } from './vpc-config.js'

/** Opens a connection for a binding; `hostname:port` is what the Worker asked for. */
export type Route = (hostname: string, port: number, signal: AbortSignal) => Promise<net.Socket>

export interface StartedTunnels {
  readonly edge: TunnelEdge
  readonly routes: ReadonlyMap<string, Route>
  readonly bindings: readonly VpcBindingInfo[]
  close(): Promise<void>
}

export async function startTunnels(
  vpc: VpcConfig,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env
): Promise<StartedTunnels | undefined> {
  const config = vpc.tunnels
  if (config === undefined) return undefined
  const read = (file: string, field: string): string => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new WharfError(
        'ERR_WHARF_CONFIG',
        `wharf.tunnels.${field}: cannot read ${file}: ${(error as Error).message}`
      )
    }
  }
  const tunnels = config.tunnels.map((t) => ({
    id: t.id,
    keys: t.keys.map((k) => {
      const secret = k.secret ?? (k.secretEnv === undefined ? undefined : env[k.secretEnv])
      if (secret === undefined || secret === '') {
        throw new WharfError(
          'ERR_WHARF_CONFIG',
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
      throw new WharfError('ERR_WHARF_CONFIG', `wharf.tunnels: ${(error as Error).message}`)
    }
    throw new WharfError(
      'ERR_WHARF_TUNNEL',
      `wharf.tunnels.listen ${config.host}:${config.port}: ${(error as Error).message}`
    )
  }
  log(
    `[wharf:tunnel] edge listening on ${config.host}:${edge.address.port} for tunnels ${tunnels.map((t) => t.id).join(', ')}`
  )

  const routes = new Map<string, Route>()
  const bindings: VpcBindingInfo[] = []
  for (const n of vpc.networks) {
    routes.set(n.binding, async (hostname, port, signal) =>
      passableEnd(await edge.openFlow(n.tunnel, hostname, port, { signal }))
    )
    bindings.push({ binding: n.binding, kind: 'network' })
  }
  for (const s of vpc.services) {
    const service = config.services.find((d) => d.id === s.service)
    if (service === undefined) continue
    // A service reaches its configured host and port, whatever the Worker's URL names.
    routes.set(s.binding, async (_hostname, _port, signal) =>
      passableEnd(await edge.openFlow(service.tunnel, service.host, service.port, { signal }))
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
  return { edge, routes, bindings, close: () => edge.close() }
}
