/** Parsing and validating the pooler's settings (operator input: checked, bounded, explained). */
import { readFileSync } from 'node:fs'
import { PoolConfigError } from './errors.js'
import { boundedInt, urlHost } from './core/options.js'
import type { OriginOptions } from './pg/origin.js'

export { boundedInt, urlHost }

export { PoolConfigError }

export type SslMode = 'disable' | 'prefer' | 'require'

/** `postgres://user:password@host:port/database?sslmode=...&sslrootcert=file` to origin options. */
export function parseUpstream(
  upstream: string,
  defaults: { connectTimeoutMs: number; maxMessageBytes: number }
): OriginOptions & { sslmode: SslMode } {
  let url: URL
  try {
    url = new URL(upstream)
  } catch {
    throw new PoolConfigError(
      'the upstream must be a URL like postgres://user:password@host:5432/database'
    )
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new PoolConfigError(`the upstream must use postgres:// (got ${url.protocol})`)
  }
  const host = urlHost(url)
  if (host === '') throw new PoolConfigError('the upstream URL has no host')
  const port = url.port === '' ? 5432 : Number(url.port)
  const user = decodeURIComponent(url.username)
  if (user === '') throw new PoolConfigError('the upstream URL has no user')
  const password = url.password === '' ? undefined : decodeURIComponent(url.password)
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || user
  const mode = url.searchParams.get('sslmode') ?? 'prefer'
  let sslmode: SslMode
  if (mode === 'disable' || mode === 'allow') sslmode = 'disable'
  else if (mode === 'prefer') sslmode = 'prefer'
  else if (mode === 'require' || mode === 'verify-ca' || mode === 'verify-full') sslmode = 'require'
  else throw new PoolConfigError(`unknown sslmode "${mode}"`)
  const rootCert = url.searchParams.get('sslrootcert')
  let ca: string | undefined
  if (rootCert) {
    try {
      ca = readFileSync(rootCert, 'utf8')
    } catch (error) {
      throw new PoolConfigError(`sslrootcert ${rootCert}: ${(error as Error).message}`)
    }
  }
  return {
    host,
    port,
    user,
    ...(password === undefined ? {} : { password }),
    database,
    sslmode,
    // require verifies the certificate, as pg does (libpq's require would not).
    tls:
      sslmode === 'disable'
        ? false
        : {
            ...(ca === undefined ? {} : { ca }),
            verify: sslmode === 'require',
            optional: sslmode === 'prefer',
          },
    connectTimeoutMs: defaults.connectTimeoutMs,
    maxMessageBytes: defaults.maxMessageBytes,
  }
}

/** 'host:port' (IPv6 in brackets); port 0 picks a free one. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const host = match?.[1] ?? match?.[2]
  const port = Number(match?.[3])
  if (host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new PoolConfigError(`listen address must be HOST:PORT, IPv6 in brackets (got "${value}")`)
  }
  return { host, port }
}
