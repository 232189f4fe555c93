/**
 * `node:fs` as workerd gives it under nodejs_compat (from 2025-09-15, or with
 * enable_nodejs_fs_module): a virtual file system (fs/tree.ts) with the bundle read-only under
 * /bundle, a /tmp of each request's own in memory, and /dev/null, zero, full and random. Nothing
 * of the host's file system is reachable from here.
 */
import { constants } from 'node:fs'
import { Readable, Writable } from 'node:stream'
import { unsupported } from './fs/errors.js'
import * as ops from './fs/sync.js'
import promisesApi from './fs/promises.js'
import { Dir } from './fs/dir.js'
import { globSync } from './fs/glob.js'

type Callback = (error: Error | null, value?: unknown) => void

/** The callback form of a sync operation: the callback runs on a later microtask. */
function callback(fn: (...args: never[]) => unknown) {
  return (...args: unknown[]): void => {
    const cb = args.pop()
    if (typeof cb !== 'function')
      throw Object.assign(
        new TypeError(`The "cb" argument must be of type function. Received ${typeof cb}`),
        { code: 'ERR_INVALID_ARG_TYPE' }
      )
    let result: unknown
    let error: Error | null = null
    try {
      result = fn(...(args as never[]))
    } catch (e) {
      error = e as Error
    }
    queueMicrotask(() => {
      ;(cb as Callback)(error, result)
    })
  }
}

export class ReadStream extends Readable {
  #fd: number | undefined
  #position: number
  readonly #end: number
  constructor(
    readonly path: string,
    options: {
      encoding?: BufferEncoding
      start?: number
      end?: number
      highWaterMark?: number
      fd?: number
    } = {}
  ) {
    super({ highWaterMark: options.highWaterMark ?? 65536, encoding: options.encoding })
    this.#fd = options.fd
    this.#position = options.start ?? 0
    this.#end = options.end ?? Infinity
  }
  override _construct(done: (error?: Error | null) => void): void {
    try {
      this.#fd ??= ops.openSync(this.path, 'r')
      done()
    } catch (error) {
      done(error as Error)
    }
  }
  override _read(size: number): void {
    try {
      const want = Math.min(size, this.#end - this.#position + 1)
      if (want <= 0) {
        this.push(null)
        return
      }
      const buffer = Buffer.alloc(want)
      const n = ops.readSync(this.#fd, buffer, 0, want, this.#position)
      this.#position += n
      this.push(n === 0 ? null : buffer.subarray(0, n))
    } catch (error) {
      this.destroy(error as Error)
    }
  }
  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.#fd !== undefined) ops.closeSync(this.#fd)
    done(error)
  }
}

export class WriteStream extends Writable {
  #fd: number | undefined
  readonly #flags: string
  constructor(
    readonly path: string,
    options: { flags?: string; fd?: number } = {}
  ) {
    super()
    this.#fd = options.fd
    this.#flags = options.flags ?? 'w'
  }
  override _construct(done: (error?: Error | null) => void): void {
    try {
      this.#fd ??= ops.openSync(this.path, this.#flags)
      done()
    } catch (error) {
      done(error as Error)
    }
  }
  override _write(chunk: Buffer, _encoding: string, done: (error?: Error | null) => void): void {
    try {
      ops.writeSync(this.#fd, chunk)
      done()
    } catch (error) {
      done(error as Error)
    }
  }
  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.#fd !== undefined) ops.closeSync(this.#fd)
    done(error)
  }
}

const optionsOf = (options: unknown): object =>
  typeof options === 'string'
    ? { encoding: options }
    : typeof options === 'object' && options !== null
      ? options
      : {}
export const createReadStream = (path: unknown, options?: unknown) =>
  new ReadStream(ops.pathOf(path), optionsOf(options))
export const createWriteStream = (path: unknown, options?: unknown) =>
  new WriteStream(ops.pathOf(path), optionsOf(options))

const opendirSync = (path: unknown) => new Dir(ops.pathOf(path))
const noopSync = (path: unknown) => ops.touchSync(path)
const fdNoop = (fd: unknown) => void ops.descriptor(fd, 'fsync')
const openAsBlob = (path: unknown) =>
  Promise.resolve().then(() => new Blob([ops.readFileSync(path) as Buffer]))

export const {
  accessSync,
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  readvSync,
  realpathSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  statfsSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  writevSync,
  Dirent,
  Stats,
} = ops
export const cpSync = ops.cpSync
export const chmodSync = noopSync
export const chownSync = noopSync
export const lchmodSync = noopSync
export const lchownSync = noopSync
export const lutimesSync = noopSync
export const fchmodSync = fdNoop
export const fchownSync = fdNoop
export const fdatasyncSync = fdNoop
export const fsyncSync = fdNoop
export const futimesSync = fdNoop
export { Dir, globSync, opendirSync, openAsBlob, constants }
export const { F_OK, R_OK, W_OK, X_OK } = constants
export const FileReadStream = ReadStream
export const FileWriteStream = WriteStream
export const watch = unsupported
export const watchFile = unsupported
export const unwatchFile = unsupported
// workerd: `fs.promises` is not the same object as node:fs/promises' default export.
export const promises = { ...promisesApi }

export const access = callback(ops.accessSync)
export const appendFile = callback(ops.appendFileSync)
export const chmod = callback(noopSync)
export const chown = callback(noopSync)
export const close = callback(ops.closeSync)
export const copyFile = callback(ops.copyFileSync)
export const cp = callback(ops.cpSync)
export const fchmod = callback(fdNoop)
export const fchown = callback(fdNoop)
export const fdatasync = callback(fdNoop)
export const fstat = callback(ops.fstatSync)
export const fsync = callback(fdNoop)
export const ftruncate = callback(ops.ftruncateSync)
export const futimes = callback(fdNoop)
export const glob = callback(globSync)
export const lchmod = callback(noopSync)
export const lchown = callback(noopSync)
export const link = callback(ops.linkSync)
export const lstat = callback(ops.lstatSync)
export const lutimes = callback(noopSync)
export const mkdir = callback(ops.mkdirSync)
export const mkdtemp = callback(ops.mkdtempSync)
export const open = callback(ops.openSync)
export const opendir = callback(opendirSync)
/** read, write, readv and writev call back with (error, bytes, buffer), as Node's do. */
function withBuffer(fn: (fd: unknown, buffer: never, ...rest: unknown[]) => number) {
  return (fd: unknown, buffer: unknown, ...args: unknown[]): void => {
    const cb = args.pop()
    callback((...a: unknown[]) => fn(fd, buffer as never, ...a))(
      ...args,
      (error: Error | null, n?: unknown) => {
        if (typeof cb === 'function') (cb as (...a: unknown[]) => void)(error, n, buffer)
      }
    )
  }
}

export const read = withBuffer(ops.readSync)
export const readFile = callback(ops.readFileSync)
export const readdir = callback(ops.readdirSync)
export const readlink = callback(ops.readlinkSync)
export const readv = withBuffer(ops.readvSync)
export const realpath = callback(ops.realpathSync)
export const rename = callback(ops.renameSync)
export const rm = callback(ops.rmSync)
export const rmdir = callback(ops.rmdirSync)
export const stat = callback(ops.statSync)
export const statfs = callback(ops.statfsSync)
export const symlink = callback(ops.symlinkSync)
export const truncate = callback(ops.truncateSync)
export const unlink = callback(ops.unlinkSync)
export const utimes = callback(ops.utimesSync)
export const write = withBuffer(ops.writeSync)
export const writeFile = callback(ops.writeFileSync)
export const writev = withBuffer(ops.writevSync)
/** The old `exists(path, cb)`: the callback gets only a boolean. */
export function exists(path: unknown, cb: (exists: boolean) => void): void {
  const found = ops.existsSync(path)
  queueMicrotask(() => cb(found))
}

export default {
  Dir,
  Dirent,
  F_OK,
  FileReadStream,
  FileWriteStream,
  R_OK,
  ReadStream,
  Stats,
  W_OK,
  WriteStream,
  X_OK,
  access,
  accessSync,
  appendFile,
  appendFileSync,
  chmod,
  chmodSync,
  chown,
  chownSync,
  close,
  closeSync,
  constants,
  copyFile,
  copyFileSync,
  cp,
  cpSync,
  createReadStream,
  createWriteStream,
  exists,
  existsSync,
  fchmod,
  fchmodSync,
  fchown,
  fchownSync,
  fdatasync,
  fdatasyncSync,
  fstat,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncate,
  ftruncateSync,
  futimes,
  futimesSync,
  glob,
  globSync,
  lchmod,
  lchmodSync,
  lchown,
  lchownSync,
  link,
  linkSync,
  lstat,
  lstatSync,
  lutimes,
  lutimesSync,
  mkdir,
  mkdirSync,
  mkdtemp,
  mkdtempSync,
  open,
  openAsBlob,
  openSync,
  opendir,
  opendirSync,
  promises,
  read,
  readFile,
  readFileSync,
  readSync,
  readdir,
  readdirSync,
  readlink,
  readlinkSync,
  readv,
  readvSync,
  realpath,
  realpathSync,
  rename,
  renameSync,
  rm,
  rmSync,
  rmdir,
  rmdirSync,
  stat,
  statSync,
  statfs,
  statfsSync,
  symlink,
  symlinkSync,
  truncate,
  truncateSync,
  unlink,
  unlinkSync,
  unwatchFile,
  utimes,
  utimesSync,
  watch,
  watchFile,
  write,
  writeFile,
  writeFileSync,
  writeSync,
  writev,
  writevSync,
}
