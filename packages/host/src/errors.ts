/** Operator-facing errors of the host, each with a stable `code` (see docs/errors.md, "Host"). */
export class WharfError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WharfError'
    this.code = code
  }
}

/** A missing, unreadable or invalid wrangler config, naming the file and the field. */
export function configError(file: string, message: string): WharfError {
  return new WharfError('ERR_WHARF_CONFIG', `${file}: ${message}`)
}

/** A bad command line. */
export function usageError(message: string): WharfError {
  return new WharfError('ERR_WHARF_USAGE', message)
}

/** A listener that cannot bind (address in use, not local, invalid): the command fails at once. */
export function listenError(what: string, ip: string, port: number, error: unknown): WharfError {
  const code = (error as NodeJS.ErrnoException | null)?.code
  const hint = code === 'EADDRINUSE' ? ' (the address is in use)' : ''
  return new WharfError(
    'ERR_WHARF_LISTEN',
    `${what}: cannot listen on ${ip}:${port}: ${code ?? (error as Error).message}${hint}`,
    { cause: error }
  )
}
