/**
 * The `wharf` CLI: `wharf dev`, `wharf egress check`, `wharf pool`.
 *
 * @module
 */
import { statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { takeWranglerFlags } from './wrangler-flags.js'
import { startDev } from './dev.js'
import { checkRuleFlags, isolationFlag, portFlag, untilStopped } from './cli-flags.js'
import { egressCheck } from './egress-check.js'
import { WharfError, usageError } from './errors.js'
import { flushLog } from './logger.js'
import { SERVE_USAGE, serveCommand } from './serve/command.js'

const USAGE = `Usage:
  wharf dev [dir|script] [--port N] [--ip ADDR] [--var KEY:VALUE]... [--config FILE]... [--env NAME]
                  [--allow RULE]... [--deny RULE]... [--no-watch] [--isolation auto|netns|none]
                  [--sandbox auto|strict|off]
${SERVE_USAGE}
  wharf egress check HOST:PORT [--config FILE] [--allow RULE]... [--deny RULE]...
  wharf pool ...          (see \`wharf pool --help\`)
  wharf tunnel ...        (see \`wharf tunnel --help\`)
  wharf --version
`

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

function version(): string {
  const require = createRequire(import.meta.url)
  return (require('../package.json') as { version: string }).version
}

export function parseVar(value: string): [string, string] {
  const i = value.indexOf(':')
  if (i <= 0) throw usageError(`--var expects KEY:VALUE (got "${value}")`)
  const key = value.slice(0, i)
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
    throw usageError(`--var: "${key}" is not a valid binding name`)
  return [key, value.slice(i + 1)]
}

async function devCommand(argv: string[]): Promise<number> {
  const wrangler = takeWranglerFlags(argv)
  for (const line of wrangler.warnings) process.stderr.write(`[wharf:warn] ${line}\n`)
  const { values, positionals } = parseArgs({
    args: wrangler.argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      ip: { type: 'string' },
      var: { type: 'string', multiple: true },
      config: { type: 'string', short: 'c', multiple: true },
      allow: { type: 'string', multiple: true },
      deny: { type: 'string', multiple: true },
      'no-watch': { type: 'boolean' },
      isolation: { type: 'string' },
      env: { type: 'string', short: 'e' },
      sandbox: { type: 'string' },
    },
  })
  if (positionals.length > 1)
    throw usageError(`wharf dev takes one directory or script (got ${positionals.join(' ')})`)
  // A file is the Worker's script (wrangler dev SCRIPT); anything else is the project directory.
  const target = positionals[0]
  const script = target !== undefined && isFile(target) ? target : undefined
  const port = portFlag(values.port, '--port')
  const isolation = isolationFlag(values.isolation)
  const sandbox = values.sandbox
  if (sandbox !== undefined && sandbox !== 'auto' && sandbox !== 'strict' && sandbox !== 'off') {
    throw usageError(`--sandbox must be auto, strict or off (got "${sandbox}")`)
  }
  checkRuleFlags(values.allow, values.deny)
  // Several -c: the first is the primary Worker, the rest are reached through service bindings.
  const [config, ...configs] = values.config ?? []
  const dev = await startDev({
    dir: script === undefined ? (target ?? '.') : dirname(script),
    ...(script === undefined ? {} : { script }),
    ...(config === undefined ? {} : { config }),
    ...(configs.length === 0 ? {} : { configs }),
    ...(values.env === undefined ? {} : { env: values.env }),
    ...(port === undefined ? {} : { port }),
    ...(values.ip === undefined ? {} : { ip: values.ip }),
    vars: Object.fromEntries((values.var ?? []).map(parseVar)),
    allow: values.allow ?? [],
    deny: values.deny ?? [],
    watch: values['no-watch'] !== true,
    ...(isolation === undefined ? {} : { isolation }),
    ...(sandbox === undefined ? {} : { sandbox }),
  })
  await untilStopped()
  await dev.close()
  flushLog()
  return 0
}

async function poolCommand(argv: string[]): Promise<number> {
  const pool = await import('@wharf/pool')
  return pool.poolCommand(argv)
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  // `wharf dev --help`: the usage, as for `wharf --help` (the pool and tunnel print their own).
  const wantsHelp =
    (command === 'dev' || command === 'serve' || command === 'egress') &&
    rest.some((a) => a === '--help' || a === '-h')
  if (wantsHelp) {
    process.stdout.write(USAGE)
    return 0
  }
  try {
    switch (command) {
      case 'dev':
        return await devCommand(rest)
      case 'serve':
        return await serveCommand(rest, parseVar)
      case 'egress':
        if (rest[0] !== 'check')
          throw usageError('usage: wharf egress check HOST:PORT [--config FILE]')
        return await egressCheck(rest.slice(1))
      case 'pool':
        return await poolCommand(rest)
      case 'tunnel':
        return await (await import('@wharf/tunnel')).tunnelCommand(rest)
      case '--version':
      case '-v':
        process.stdout.write(version() + '\n')
        return 0
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE)
        return command === undefined ? 1 : 0
      default:
        throw usageError(`unknown command "${command}"\n\n${USAGE}`)
    }
  } catch (error) {
    if (error instanceof WharfError) {
      process.stderr.write(`✘ ERROR ${error.code}: ${error.message}\n`)
      return 1
    }
    // Typed errors of the libraries (e.g. ERR_EGRESS_RULE for a bad --allow) are operator input
    // problems too: their code and message say everything, a stack would only hide it.
    const code = (error as { code?: unknown } | null)?.code
    if (
      error instanceof Error &&
      typeof code === 'string' &&
      /^ERR_(EGRESS|POOL|TUNNEL)_/.test(code)
    ) {
      process.stderr.write(`✘ ERROR ${code}: ${error.message}\n`)
      return 1
    }
    if (
      error instanceof Error &&
      (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true
    ) {
      process.stderr.write(`✘ ERROR ERR_WHARF_USAGE: ${error.message}\n\n${USAGE}`)
      return 1
    }
    process.stderr.write(
      `✘ ERROR: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`
    )
    return 1
  }
}
