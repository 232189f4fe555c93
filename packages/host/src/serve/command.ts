/**
 * `wharf serve [dir] [--env NAME] [--port N] [--ip ADDR] [--processes N|auto] ...`: parses the
 * flags (each bad one is ERR_WHARF_USAGE naming it), starts the host, deploys on SIGHUP, drains
 * and exits 0 on SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util'
import { checkRuleFlags, isolationFlag, portFlag, untilStopped } from '../cli-flags.js'
import { usageError } from '../errors.js'
import { flushLog, logLine } from '../logger.js'
import { parseProcesses } from './settings.js'
import { serveLogger } from './log.js'
import { startServe } from './serve.js'

export const SERVE_USAGE = `  wharf serve [dir] [--env NAME] [--port N] [--ip ADDR] [--processes N|auto]
                    [--admin-port N] [--admin-ip ADDR] [--log-format text|json]
                    [--var KEY:VALUE]... [--config FILE]... [--allow RULE]... [--deny RULE]...
                    [--isolation auto|netns|none] [--sandbox auto|strict|off]`

export async function serveCommand(
  argv: string[],
  parseVar: (value: string) => [string, string]
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      env: { type: 'string', short: 'e' },
      port: { type: 'string' },
      ip: { type: 'string' },
      processes: { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-ip': { type: 'string' },
      'log-format': { type: 'string' },
      var: { type: 'string', multiple: true },
      config: { type: 'string', short: 'c', multiple: true },
      allow: { type: 'string', multiple: true },
      deny: { type: 'string', multiple: true },
      isolation: { type: 'string' },
      sandbox: { type: 'string' },
    },
  })
  if (positionals.length > 1)
    throw usageError(`wharf serve takes one directory (got ${positionals.join(' ')})`)
  const processes =
    values.processes === undefined
      ? undefined
      : parseProcesses(values.processes, '--processes', (m) => {
          throw usageError(m)
        })
  const format = values['log-format'] ?? 'text'
  if (format !== 'text' && format !== 'json')
    throw usageError(`--log-format must be text or json (got "${format}")`)
  const isolation = isolationFlag(values.isolation)
  const sandbox = values.sandbox
  if (sandbox !== undefined && sandbox !== 'auto' && sandbox !== 'strict' && sandbox !== 'off')
    throw usageError(`--sandbox must be auto, strict or off (got "${sandbox}")`)
  checkRuleFlags(values.allow, values.deny)
  const listenPort = portFlag(values.port, '--port')
  const adminPort = portFlag(values['admin-port'], '--admin-port')
  // wrangler's multi-config form: the first config is the primary, served on --port.
  const [config, ...configs] = values.config ?? []
  const host = await startServe({
    dir: positionals[0] ?? '.',
    ...(config === undefined ? {} : { config }),
    ...(configs.length === 0 ? {} : { configs }),
    ...(values.env === undefined ? {} : { env: values.env }),
    ...(listenPort === undefined ? {} : { port: listenPort }),
    ...(values.ip === undefined ? {} : { ip: values.ip }),
    ...(processes === undefined ? {} : { processes }),
    ...(adminPort === undefined ? {} : { adminPort }),
    ...(values['admin-ip'] === undefined ? {} : { adminIp: values['admin-ip'] }),
    logFormat: format,
    vars: Object.fromEntries((values.var ?? []).map(parseVar)),
    allow: values.allow ?? [],
    deny: values.deny ?? [],
    ...(isolation === undefined ? {} : { isolation }),
    ...(sandbox === undefined ? {} : { sandbox }),
  })
  const log = serveLogger(format, logLine)
  const onHup = (): void => {
    log('info', 'SIGHUP: deploying the config and bundle on disk', { event: 'deploy' })
    host.reload().then(
      () =>
        log('info', 'deployed: the new version serves, the old one drains', { event: 'deployed' }),
      (error: unknown) =>
        log(
          'error',
          `deploy refused, the previous version keeps serving: ${(error as { code?: string }).code ?? ''} ${(error as Error).message}`,
          { event: 'deploy_refused' }
        )
    )
  }
  process.on('SIGHUP', onHup)
  await untilStopped()
  process.off('SIGHUP', onHup)
  log('info', 'draining: no new connections; in-flight requests finish', { event: 'draining' })
  await host.close()
  log('info', 'stopped', { event: 'stopped' })
  flushLog()
  return 0
}
