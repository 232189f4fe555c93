/** `node:fs/promises` as workerd gives it: the VFS's operations (sync.ts), as promises. */
import { constants } from 'node:fs'
import * as ops from './sync.js'
import { Dir } from './dir.js'
import { globSync } from './glob.js'

type Fn = (...args: never[]) => unknown
/** Runs a sync operation and settles with it (errors reject, never throw synchronously). */
function later<F extends Fn>(fn: F): (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>> {
  return (...args) =>
    new Promise((resolve) => {
      resolve(fn(...args) as Awaited<ReturnType<F>>)
    })
}

/** workerd's FileHandle: a descriptor with promise methods (no `fd` property). */
export class FileHandle {
  readonly #fd: number
  constructor(fd: number) {
    this.#fd = fd
  }
  read(buffer: ArrayBufferView = Buffer.alloc(16384), ...args: unknown[]) {
    return later(() => ({ bytesRead: ops.readSync(this.#fd, buffer, ...args), buffer }))()
  }
  write(data: string | ArrayBufferView, ...args: unknown[]) {
    return later(() => ({ bytesWritten: ops.writeSync(this.#fd, data, ...args), buffer: data }))()
  }
  readFile(options?: unknown) {
    return later(() => ops.readFileSync(this.#fd, options))()
  }
  writeFile(data: string | ArrayBufferView) {
    return later(() => void ops.writeSync(this.#fd, data))()
  }
  appendFile(data: string | ArrayBufferView) {
    return this.writeFile(data)
  }
  stat(options?: unknown) {
    return later(() => ops.fstatSync(this.#fd, options))()
  }
  truncate(length?: number) {
    return later(() => ops.ftruncateSync(this.#fd, length))()
  }
  sync() {
    return later(() => void ops.descriptor(this.#fd, 'fsync'))()
  }
  datasync() {
    return this.sync()
  }
  chmod() {
    return this.sync()
  }
  chown() {
    return this.sync()
  }
  utimes() {
    return this.sync()
  }
  close() {
    return later(() => ops.closeSync(this.#fd))()
  }
  [Symbol.asyncDispose]() {
    return this.close()
  }
}

/** workerd's fs/promises watch: iterating it rejects with `Not implemented`. */
function notImplemented(): AsyncIterableIterator<never> {
  const fail = (): Promise<never> => Promise.reject(new Error('Not implemented'))
  const iterator: AsyncIterableIterator<never> = {
    next: fail,
    [Symbol.asyncIterator]: () => iterator,
  }
  return iterator
}

const noop = later((path: unknown) => ops.touchSync(path))

export const access = later(ops.accessSync)
export const appendFile = later(ops.appendFileSync)
export const chmod = noop
export const chown = noop
export const copyFile = later(ops.copyFileSync)
export const cp = later(ops.cpSync)
/** An async iterable of what `globSync` finds (listed when iteration starts). */
export function glob(
  pattern: unknown,
  options?: unknown
): AsyncIterableIterator<string | ops.Dirent> {
  let found: (string | ops.Dirent)[] | undefined
  const iterator: AsyncIterableIterator<string | ops.Dirent> = {
    next: () =>
      new Promise((resolve) => {
        found ??= globSync(pattern, options)
        const value = found.shift()
        resolve(value === undefined ? { done: true, value: undefined } : { done: false, value })
      }),
    [Symbol.asyncIterator]: () => iterator,
  }
  return iterator
}
export const lchmod = noop
export const lchown = noop
export const link = later(ops.linkSync)
export const lstat = later(ops.lstatSync)
export const lutimes = noop
export const mkdir = later(ops.mkdirSync)
export const mkdtemp = later(ops.mkdtempSync)
export const open = later(
  (path: unknown, flags?: unknown) => new FileHandle(ops.openSync(path, flags))
)
export const opendir = later((path: unknown) => new Dir(ops.pathOf(path)))
export const readFile = later(ops.readFileSync)
export const readdir = later(ops.readdirSync)
export const readlink = later(ops.readlinkSync)
export const realpath = later(ops.realpathSync)
export const rename = later(ops.renameSync)
export const rm = later(ops.rmSync)
export const rmdir = later(ops.rmdirSync)
export const stat = later(ops.statSync)
export const statfs = later(ops.statfsSync)
export const symlink = later(ops.symlinkSync)
export const truncate = later(ops.truncateSync)
export const unlink = later(ops.unlinkSync)
export const utimes = later(ops.utimesSync)
export const watch = notImplemented
export const writeFile = later(ops.writeFileSync)
export { constants }

const promises = {
  FileHandle,
  access,
  appendFile,
  chmod,
  chown,
  constants,
  copyFile,
  cp,
  glob,
  lchmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  open,
  opendir,
  readFile,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
  statfs,
  symlink,
  truncate,
  unlink,
  utimes,
  watch,
  writeFile,
}
export default promises
