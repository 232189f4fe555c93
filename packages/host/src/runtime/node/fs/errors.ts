/**
 * The errors workerd 1.20261117.1's `node:fs` throws, in its exact shapes (found by running the
 * same calls in workerd: test/fixtures/vfs/worker.js). workerd has three kinds: `stat`/`access`
 * misses are an `ERR_ENOENT` class with `errno`; most other failures are a plain `Error` with
 * `code`, `syscall` and (sometimes) `path`, whose message names the path only when `path` is set.
 */
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EPERM: 'operation not permitted',
  EEXIST: 'file already exists',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  EBADF: 'bad file descriptor',
  ELOOP: 'too many symbolic links encountered',
  ENAMETOOLONG: 'name too long',
  EMFILE: 'too many open files',
  // Wharf's own bound on a request's /tmp (workerd counts /tmp against the isolate's memory).
  ENOSPC: 'no space left on device',
}

/** A plain `Error` with `code`, `syscall` and, when given, `path` (workerd's usual shape). */
export function fsError(code: string, syscall: string, path?: string, message?: string): Error {
  const description = DESCRIPTIONS[code] ?? code
  const text =
    message ?? (path === undefined ? description : `${description}, ${syscall} '${path}'`)
  const error = new Error(text) as Error & { code: string; syscall: string; path?: string }
  error.code = code
  if (path !== undefined) error.path = path
  error.syscall = syscall
  return error
}

/** workerd's `ERR_ENOENT` (what stat, lstat and access throw): with `errno` and an own `name`. */
export class ERR_ENOENT extends Error {
  code = 'ENOENT'
  errno = -2
  syscall: string
  path: string
  constructor(path: string, syscall: string) {
    super(`no such file or directory, ${syscall} '${path}'`)
    this.name = 'Error'
    this.syscall = syscall
    this.path = path
  }
}

/** What fs.watch, watchFile and unwatchFile throw in workerd. */
export class ERR_UNSUPPORTED_OPERATION extends Error {
  code = 'ERR_UNSUPPORTED_OPERATION'
  constructor() {
    super('The requested operation is unsupported')
    this.name = 'Error'
  }
}

export function unsupported(): never {
  throw new ERR_UNSUPPORTED_OPERATION()
}
