// A real PostgreSQL with wal_level = logical (restarted once after ALTER SYSTEM) and
// synchronous_commit = on, for the WAL invalidation tests and benchmarks.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { startPostgres, type PostgresServer } from './postgres.js'

export function pgCtl(dataDir: string, ...args: string[]): void {
  const base = '/usr/lib/postgresql'
  const version = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a))[0]
  if (version === undefined) throw new Error('pg_ctl not found under /usr/lib/postgresql')
  const cmd = join(base, version, 'bin', 'pg_ctl')
  const options = { timeout: 60_000, stdio: 'ignore' } as const
  if (process.getuid?.() === 0)
    execFileSync('runuser', ['-u', 'postgres', '--', cmd, '-D', dataDir, ...args], options)
  else execFileSync(cmd, ['-D', dataDir, ...args], options)
}

export async function startLogicalPostgres(
  options: Parameters<typeof startPostgres>[0] = {}
): Promise<PostgresServer> {
  const server = await startPostgres(options)
  server.psql('ALTER SYSTEM SET wal_level = logical')
  // As production origins run: with commits flushed at once the walsender sends them at once,
  // not after wal_writer_delay. test-support starts PostgreSQL with -c synchronous_commit=off,
  // which ALTER SYSTEM cannot override; a setting for every role can.
  server.psql('ALTER ROLE ALL SET synchronous_commit = on')
  pgCtl(server.dataDir, 'restart', '-m', 'fast', '-w', '-t', '60')
  return server
}
