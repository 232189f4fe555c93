/**
 * `wharf egress check HOST:PORT [--config FILE] [--allow RULE] [--deny RULE]`: asks the policy
 * `wharf dev` would use and prints the decision, the address it would connect to and the rule.
 * Exit status: 0 allowed, 2 denied, 1 on bad input.
 */
import { parseArgs } from 'node:util'
import { findConfig, parseConfigFile, validateConfig, type EgressConfig } from './config.js'
import { createHostPolicy } from './egress.js'
import { usageError } from './errors.js'

const CHECK_TIMEOUT_MS = 10_000

export function parseHostPort(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const hostname = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (hostname === undefined || !Number.isInteger(port) || port > 65535) {
    throw usageError(`wharf egress check expects HOST:PORT, with IPv6 in brackets (got "${value}")`)
  }
  return { hostname, port }
}

export async function egressCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      allow: { type: 'string', multiple: true },
      deny: { type: 'string', multiple: true },
    },
  })
  if (positionals.length !== 1 || positionals[0] === undefined) {
    throw usageError('usage: wharf egress check HOST:PORT [--config FILE]')
  }
  const { hostname, port } = parseHostPort(positionals[0])
  let egress: EgressConfig = { allow: [], deny: [] }
  if (values.config !== undefined) {
    const file = findConfig('.', values.config)
    egress = validateConfig(parseConfigFile(file), file).egress
  }
  const policy = createHostPolicy({
    egress: {
      ...egress,
      allow: [...egress.allow, ...(values.allow ?? [])],
      deny: [...egress.deny, ...(values.deny ?? [])],
    },
    onDenied: () => undefined,
  })
  const decision = await policy.decide(hostname, port, AbortSignal.timeout(CHECK_TIMEOUT_MS))
  if (decision.allowed) {
    process.stdout.write(
      `decision: allowed\naddress:  ${decision.address}\nport:     ${port}\nrule:     ${decision.rule}\n`
    )
    return 0
  }
  process.stdout.write(
    `decision: denied\naddress:  ${hostname}\nport:     ${port}\nrule:     ${decision.rule}\nreason:   ${decision.reason}\n` +
      (decision.workerMessage === undefined ? '' : `worker sees: ${decision.workerMessage}\n`)
  )
  return 2
}
