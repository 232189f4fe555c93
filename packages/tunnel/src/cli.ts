/**
 * `wharf tunnel run --edge HOST:PORT --token TOKEN [--config ingress.json] [--ca FILE]`: the
 * connector, and `wharf tunnel token --tunnel ID` to mint a token and the edge's matching key.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { TunnelConnector } from './connector.js'
import { TunnelConfigError } from './errors.js'
import { formatToken, newToken } from './token.js'

export const TUNNEL_USAGE = `Usage:
  wharf tunnel run --edge HOST:PORT [--token TOKEN] --config ingress.json [--ca FILE] [--servername NAME]
      The connector. It only dials out: TLS to the edge (certificate verified), then one
      connection per flow. The token may come from WHARF_TUNNEL_TOKEN instead of --token (which
      other users of the machine can read in the process list).
  wharf tunnel token --tunnel ID [--key KEY]
      Prints a new token for the connector and the key entry for the edge's config.

ingress.json: { "ingress": [ { "host": "10.0.0.5", "port": 5432 },
                             { "cidr": "10.0.0.0/24", "ports": "8000-8080" },
                             { "hostname": "db.internal", "port": 5432 } ] }
`

function readJson(path: string): unknown {
  let textValue: string
  try {
    textValue = readFileSync(path, 'utf8')
  } catch (error) {
    throw new TunnelConfigError(`--config ${path}: ${(error as Error).message}`)
  }
  try {
    return JSON.parse(textValue)
  } catch (error) {
    throw new TunnelConfigError(`--config ${path}: not JSON: ${(error as Error).message}`)
  }
}

export async function tunnelCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'token') {
    const { values } = parseArgs({
      args: rest,
      options: { tunnel: { type: 'string' }, key: { type: 'string' } },
    })
    if (values.tunnel === undefined)
      throw new TunnelConfigError('wharf tunnel token needs --tunnel ID')
    const token = newToken(values.tunnel, values.key)
    process.stdout.write(
      `token (for the connector):\n  ${formatToken(token)}\n` +
        `edge key (for wharf.tunnels in the Worker's config):\n  ${JSON.stringify({ id: token.key, secret: token.secret.toString('base64url') })}\n`
    )
    return 0
  }
  if (sub !== 'run') {
    process.stdout.write(TUNNEL_USAGE)
    return sub === undefined || sub === '--help' || sub === '-h' ? 0 : 2
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      edge: { type: 'string' },
      token: { type: 'string' },
      config: { type: 'string' },
      ca: { type: 'string' },
      servername: { type: 'string' },
    },
  })
  const token = values.token ?? process.env.WHARF_TUNNEL_TOKEN
  if (values.edge === undefined)
    throw new TunnelConfigError('wharf tunnel run needs --edge HOST:PORT')
  if (token === undefined)
    throw new TunnelConfigError('wharf tunnel run needs --token or WHARF_TUNNEL_TOKEN')
  if (values.config === undefined) {
    throw new TunnelConfigError(
      'wharf tunnel run needs --config ingress.json (what the connector may reach)'
    )
  }
  const config = readJson(values.config) as { ingress?: unknown }
  const connector = new TunnelConnector({
    edge: values.edge,
    token,
    ingress: config.ingress,
    ca: values.ca === undefined ? undefined : readFileSync(values.ca, 'utf8'),
    servername: values.servername,
  }).start()
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      connector.stop()
      resolve()
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  return 0
}
