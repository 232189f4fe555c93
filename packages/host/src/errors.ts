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
