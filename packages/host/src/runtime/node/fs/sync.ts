/**
 * The synchronous file operations of workerd's `node:fs` over the tree (tree.ts). The callback
 * and promise forms (api.ts) call these. Which error each case throws was found in workerd.
 */
import { randomFillSync } from 'node:crypto'
import { constants } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERR_ENOENT, fsError } from './errors.js'
import {
  addNode,
  currentSpace,
  loadFile,
  lookup,
  release,
  resize,
  writable,
  MAX_PATH,
  type DeviceNode,
  type DirNode,
  type FileNode,
  type Found,
  type Node,
  type Space,
} from './tree.js'

export type PathLike = string | Buffer | URL
type Data = string | ArrayBufferView

const S_IFMT = 0o170000
const MODES = {
  file: 0o100444,
  tmpFile: 0o100666,
  dir: 0o40444,
  tmpDir: 0o40666,
  link: 0o120444,
  device: 0o20666,
}

/** Node's (and workerd's) internal errors: own `code`, `name` and `toString`. */
function nodeError(error: TypeError, code: string): TypeError {
  const name = error.name
  return Object.assign(error, {
    code,
    name,
    toString: () => `${name} [${code}]: ${error.message}`,
  })
}

/** How Node's ERR_INVALID_ARG_TYPE describes what it received. */
function received(value: unknown): string {
  if (value === null || value === undefined) return `Received ${String(value)}`
  if (typeof value === 'function') return `Received function ${value.name}`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name
    return name ? `Received an instance of ${name}` : 'Received [Object: null prototype]'
  }
  let shown = 'Symbol()'
  if (typeof value === 'string') shown = `'${value.slice(0, 25)}'`
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    shown = `${value}`
  if (typeof value === 'string' && value.length > 25) shown = `${shown.slice(0, -1)}...'`
  return `Received type ${typeof value} (${shown})`
}

function invalidArg(name: string, value: unknown): TypeError {
  return nodeError(
    new TypeError(
      `The "${name}" argument must be of type string or an instance of Buffer or URL. ${received(value)}`
    ),
    'ERR_INVALID_ARG_TYPE'
  )
}

/** A path argument as text: strings, Buffers and `file:` URLs, as Node takes them. */
export function pathOf(path: unknown, name = 'path'): string {
  let text: string
  if (typeof path === 'string') text = path
  else if (Buffer.isBuffer(path)) text = path.toString('utf8')
  else if (path instanceof URL) text = fileURLToPath(path)
  else throw invalidArg(name, path)
  if (text.length > MAX_PATH) throw fsError('ENAMETOOLONG', 'open', text.slice(0, 64))
  // As workerd: relative paths start at /bundle, and errors name the normalised path.
  return posix.normalize(text.startsWith('/') ? text : `/bundle/${text}`)
}

function bytesOf(data: Data, encoding?: BufferEncoding): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding ?? 'utf8')
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

function encodingOf(options: unknown): BufferEncoding | undefined {
  if (typeof options === 'string') return options as BufferEncoding
  if (typeof options === 'object' && options !== null) {
    const encoding = (options as { encoding?: unknown }).encoding
    if (typeof encoding === 'string') return encoding as BufferEncoding
  }
  return undefined
}

function flagOf(options: unknown, fallback: string): string {
  if (typeof options === 'object' && options !== null) {
    const flag = (options as { flag?: unknown }).flag
    if (typeof flag === 'string') return flag
  }
  return fallback
}

const basename = (path: string): string => path.split('/').filter(Boolean).pop() ?? path

// Stats --------------------------------------------------------------------------------------

export class Stats {
  dev: number
  ino = 0
  mode: number
  nlink = 1
  uid = 0
  gid = 0
  rdev = 0
  size: number
  blksize = 0
  blocks = 0
  atimeMs = 0
  mtimeMs: number
  ctimeMs: number
  birthtimeMs = 0
  atime: Date
  mtime: Date
  ctime: Date
  birthtime: Date
  constructor(mode: number, size: number, mtimeMs: number, dev: number) {
    this.dev = dev
    this.mode = mode
    this.size = size
    this.mtimeMs = mtimeMs
    this.ctimeMs = mtimeMs
    this.atime = new Date(0)
    this.mtime = new Date(mtimeMs)
    this.ctime = new Date(mtimeMs)
    this.birthtime = new Date(0)
  }
  isFile(): boolean {
    return (this.mode & S_IFMT) === constants.S_IFREG
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === constants.S_IFDIR
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === constants.S_IFLNK
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === constants.S_IFCHR
  }
  isBlockDevice(): boolean {
    return false
  }
  isFIFO(): boolean {
    return false
  }
  isSocket(): boolean {
    return false
  }
}

/** `{ bigint: true }`: every number a bigint, plus the `…Ns` fields, as Node's BigIntStats. */
function bigintStats(stats: Stats): object {
  const out = Object.create(Stats.prototype) as Record<string, unknown>
  const mode = BigInt(stats.mode)
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value === 'number') out[key] = BigInt(Math.trunc(value))
  }
  for (const time of ['atime', 'mtime', 'ctime', 'birthtime'] as const)
    out[`${time}Ns`] = BigInt(Math.trunc(stats[`${time}Ms`])) * 1_000_000n
  for (const time of ['atime', 'mtime', 'ctime', 'birthtime'] as const) out[time] = stats[time]
  out.mode = mode
  return out
}

function statsOf(node: Node): Stats {
  switch (node.kind) {
    case 'file':
      loadFile(node)
      return new Stats(node.readonly ? MODES.file : MODES.tmpFile, node.size, node.mtimeMs, 0)
    case 'dir':
      return new Stats(node.readonly ? MODES.dir : MODES.tmpDir, 0, 0, 0)
    case 'link':
      return new Stats(MODES.link, 0, 0, 0)
    case 'device':
      return new Stats(MODES.device, 0, 0, 1)
  }
}

function statWith(path: unknown, options: unknown, follow: boolean): Stats | object | undefined {
  const text = pathOf(path)
  const syscall = follow ? 'stat' : 'lstat'
  const { node } = lookup(currentSpace(), text, follow, syscall)
  const opts = (typeof options === 'object' && options !== null ? options : {}) as {
    bigint?: boolean
    throwIfNoEntry?: boolean
  }
  if (node === undefined) {
    if (opts.throwIfNoEntry === false) return undefined
    throw new ERR_ENOENT(text, syscall)
  }
  const stats = statsOf(node)
  return opts.bigint === true ? bigintStats(stats) : stats
}

export const statSync = (path: unknown, options?: unknown) => statWith(path, options, true)
export const lstatSync = (path: unknown, options?: unknown) => statWith(path, options, false)

export function existsSync(path: unknown): boolean {
  try {
    return lookup(currentSpace(), pathOf(path), true, 'stat').node !== undefined
  } catch {
    return false
  }
}

export function accessSync(path: unknown, mode?: number): void {
  const text = pathOf(path)
  const found = lookup(currentSpace(), text, true, 'access')
  const readonly =
    found.node?.kind === 'file' || found.node?.kind === 'dir' ? found.node.readonly : false
  // workerd answers a write check on a read-only file as if it were missing.
  if (found.node === undefined || ((mode ?? 0) & constants.W_OK && readonly))
    throw new ERR_ENOENT(text, 'access')
}

// Whole files --------------------------------------------------------------------------------

function readNode(node: Node | undefined, path: string, syscall: string): Uint8Array {
  if (node === undefined) throw fsError('ENOENT', syscall, path)
  if (node.kind === 'dir') throw fsError('EISDIR', syscall)
  if (node.kind === 'device') return new Uint8Array(0)
  if (node.kind === 'link') throw fsError('ENOENT', syscall, path)
  loadFile(node)
  return node.data.subarray(0, node.size)
}

export function readFileSync(path: unknown, options?: unknown): string | Buffer {
  let bytes: Uint8Array
  if (typeof path === 'number') {
    const fd = descriptor(path, 'fread')
    const node = fd.node
    bytes = node.kind === 'file' ? node.data.slice(fd.position, node.size) : new Uint8Array(0)
    fd.position += bytes.byteLength
  } else {
    const text = pathOf(path)
    bytes = readNode(lookup(currentSpace(), text, true, 'readAll').node, text, 'readAll')
  }
  const buffer = Buffer.from(bytes)
  const encoding = encodingOf(options)
  return encoding === undefined ? buffer : buffer.toString(encoding)
}

/** The /tmp file at `path` for writing (made if missing), or the device there. */
function fileForWrite(space: Space, path: string, syscall: string): FileNode | DeviceNode {
  const found = lookup(space, path, true, syscall)
  const node = found.node
  if (node !== undefined) {
    if (node.kind === 'dir') throw fsError('EISDIR', syscall)
    if (node.kind === 'device') {
      if (node.name === 'full') throw fsError('EPERM', syscall)
      return node
    }
    if (node.kind === 'file' && !node.readonly) return node
    throw fsError('EPERM', syscall)
  }
  if (found.parent === undefined) throw fsError('ENOENT', syscall, path)
  if (!writable(found)) throw fsError('EPERM', syscall)
  addNode(space, syscall, path)
  const file: FileNode = {
    kind: 'file',
    readonly: false,
    data: new Uint8Array(0),
    size: 0,
    mtimeMs: Date.now(),
  }
  found.parent.entries.set(found.name, file)
  return file
}

function writeInto(
  space: Space,
  file: FileNode,
  at: number,
  bytes: Uint8Array,
  syscall: string,
  path: string
): void {
  const end = at + bytes.byteLength
  if (end > file.size) resize(space, file, end, syscall, path)
  file.data.set(bytes, at)
  file.mtimeMs = Date.now()
}

function writeWhole(path: unknown, data: Data, options: unknown, append: boolean): void {
  if (typeof path === 'number') {
    writeSync(path, typeof data === 'string' ? data : bytesOf(data))
    return
  }
  const text = pathOf(path)
  const space = currentSpace()
  const bytes = bytesOf(data, encodingOf(options))
  const node = fileForWrite(space, text, 'writeAll')
  if (node.kind === 'device') return
  const flag = flagOf(options, append ? 'a' : 'w')
  if (flag.startsWith('a')) writeInto(space, node, node.size, bytes, 'writeAll', text)
  else {
    resize(space, node, 0, 'writeAll', text)
    writeInto(space, node, 0, bytes, 'writeAll', text)
  }
}

export const writeFileSync = (path: unknown, data: Data, options?: unknown) =>
  writeWhole(path, data, options, false)
export const appendFileSync = (path: unknown, data: Data, options?: unknown) =>
  writeWhole(path, data, options, true)

export function truncateSync(path: unknown, length = 0): void {
  const text = pathOf(path)
  const space = currentSpace()
  const node = fileForWrite(space, text, 'truncate')
  if (node.kind === 'file') resize(space, node, Math.max(0, Math.trunc(length)), 'truncate', text)
}

export function copyFileSync(src: unknown, dest: unknown): void {
  const from = pathOf(src, 'src')
  const to = pathOf(dest, 'dest')
  const space = currentSpace()
  const bytes = readNode(lookup(space, from, true, 'copy').node, from, 'copy').slice()
  const node = fileForWrite(space, to, 'copy')
  if (node.kind === 'device') return
  resize(space, node, 0, 'copy', to)
  writeInto(space, node, 0, bytes, 'copy', to)
}

export function utimesSync(path: unknown, _atime: unknown, mtime: unknown): void {
  const text = pathOf(path)
  const { node } = lookup(currentSpace(), text, true, 'utimes')
  if (node === undefined) throw fsError('ENOENT', 'utimes', text)
  if (node.kind === 'file' && !node.readonly)
    node.mtimeMs = mtime instanceof Date ? mtime.getTime() : Number(mtime)
}

// Directories --------------------------------------------------------------------------------

export function mkdirSync(path: unknown, options?: unknown): string | undefined {
  const text = pathOf(path)
  const recursive =
    typeof options === 'object' &&
    options !== null &&
    (options as { recursive?: unknown }).recursive === true
  const space = currentSpace()
  if (!recursive) {
    const found = lookup(space, text, true, 'mkdir')
    if (found.node !== undefined) return undefined
    if (found.parent === undefined) throw fsError('ENOENT', 'mkdir', basename(text))
    if (!writable(found)) throw fsError('EPERM', 'mkdir')
    addNode(space, 'mkdir', text)
    found.parent.entries.set(found.name, { kind: 'dir', readonly: false, entries: new Map() })
    return undefined
  }
  const parts = lookup(space, text, true, 'mkdir').path.split('/').filter(Boolean)
  let first: string | undefined
  for (let i = 1; i <= parts.length; i++) {
    const sub = `/${parts.slice(0, i).join('/')}`
    const found = lookup(space, sub, true, 'mkdir')
    if (found.node?.kind === 'dir') continue
    if (found.node !== undefined) throw fsError('EEXIST', 'mkdir', sub)
    if (found.parent === undefined) throw fsError('ENOENT', 'mkdir', basename(sub))
    if (!writable(found)) throw fsError('EPERM', 'mkdir')
    addNode(space, 'mkdir', sub)
    found.parent.entries.set(found.name, { kind: 'dir', readonly: false, entries: new Map() })
    first ??= sub
  }
  return first
}

export function mkdtempSync(prefix: unknown): string {
  const text = pathOf(prefix, 'prefix')
  const space = currentSpace()
  const path = `${text}${space.tempCounter++}`
  mkdirSync(path)
  return path
}

export class Dirent {
  constructor(
    readonly name: string,
    readonly parentPath: string,
    private readonly kind: Node['kind']
  ) {}
  readonly path = null
  isFile(): boolean {
    return this.kind === 'file'
  }
  isDirectory(): boolean {
    return this.kind === 'dir'
  }
  isSymbolicLink(): boolean {
    return this.kind === 'link'
  }
  isCharacterDevice(): boolean {
    return this.kind === 'device'
  }
  isBlockDevice(): boolean {
    return false
  }
  isFIFO(): boolean {
    return false
  }
  isSocket(): boolean {
    return false
  }
}

const MAX_LISTED = 100_000

export function readdirSync(path: unknown, options?: unknown): (string | Dirent)[] {
  const text = pathOf(path)
  const found = lookup(currentSpace(), text, true, 'readdir')
  if (found.node === undefined) throw fsError('ENOENT', 'readdir', text)
  if (found.node.kind !== 'dir') throw fsError('ENOTDIR', 'readdir', text)
  const opts = (typeof options === 'object' && options !== null ? options : {}) as {
    withFileTypes?: boolean
    recursive?: boolean
  }
  const out: (string | Dirent)[] = []
  // workerd's recursive listing names each entry by its whole path without the leading slash.
  const walk = (dir: DirNode, at: string): void => {
    for (const [name, node] of dir.entries) {
      if (out.length >= MAX_LISTED) return
      const full = at === '/' ? `/${name}` : `${at}/${name}`
      if (opts.withFileTypes === true) out.push(new Dirent(name, at, node.kind))
      else out.push(opts.recursive === true ? full.slice(1) : name)
      if (opts.recursive === true && node.kind === 'dir') walk(node, full)
    }
  }
  walk(found.node, found.path)
  return out
}

function removeFrom(found: Found): void {
  if (found.parent === undefined || found.node === undefined) return
  found.parent.entries.delete(found.name)
  release(currentSpace(), found.node)
}

export function rmSync(path: unknown, options?: unknown): void {
  const text = pathOf(path)
  const recursive =
    typeof options === 'object' &&
    options !== null &&
    (options as { recursive?: unknown }).recursive === true
  const found = lookup(currentSpace(), text, false, 'rm')
  // workerd: removing what is not there is not an error, with or without `force`.
  if (found.node === undefined) return
  if (!writable(found)) throw fsError('EPERM', 'rm')
  if (found.node.kind === 'dir' && !recursive && found.node.entries.size > 0)
    throw fsError('ENOTEMPTY', 'rm', basename(text))
  removeFrom(found)
}

export function rmdirSync(path: unknown, options?: unknown): void {
  rmSync(path, options)
}

export function unlinkSync(path: unknown): void {
  const text = pathOf(path)
  const found = lookup(currentSpace(), text, false, 'unlink')
  if (found.node === undefined) throw fsError('ENOENT', 'unlink', basename(text), 'File not found')
  if (!writable(found)) throw fsError('EPERM', 'unlink')
  if (found.node.kind === 'dir')
    throw fsError('EISDIR', 'unlink', undefined, 'Cannot unlink a directory')
  removeFrom(found)
}

export function renameSync(oldPath: unknown, newPath: unknown): void {
  const from = pathOf(oldPath, 'oldPath')
  const to = pathOf(newPath, 'newPath')
  const space = currentSpace()
  const source = lookup(space, from, false, 'rename')
  // workerd refuses a rename out of a read-only directory before it looks for the file.
  if (source.parent?.readonly === true) throw fsError('EPERM', 'rename')
  if (source.node === undefined) throw fsError('ENOENT', 'rename', from)
  const target = lookup(space, to, false, 'rename')
  if (!writable(source) || !writable(target)) throw fsError('EPERM', 'rename')
  if (target.parent === undefined) throw fsError('ENOENT', 'rename', to)
  if (target.node !== undefined && target.node !== source.node) removeFrom(target)
  source.parent?.entries.delete(source.name)
  target.parent.entries.set(target.name, source.node)
}

// Links --------------------------------------------------------------------------------------

export function symlinkSync(target: unknown, path: unknown): void {
  const to = pathOf(target, 'target')
  const text = pathOf(path)
  const space = currentSpace()
  const found = lookup(space, text, false, 'symlink')
  if (found.node !== undefined) throw fsError('EEXIST', 'link', undefined, 'File already exists')
  if (found.parent === undefined) throw fsError('ENOENT', 'link', text)
  if (!writable(found)) throw fsError('EPERM', 'link')
  addNode(space, 'symlink', text)
  found.parent.entries.set(found.name, { kind: 'link', target: to })
}

export function linkSync(existingPath: unknown, newPath: unknown): void {
  const from = pathOf(existingPath, 'existingPath')
  const to = pathOf(newPath, 'newPath')
  const space = currentSpace()
  const source = lookup(space, from, true, 'link')
  if (source.node === undefined) throw fsError('ENOENT', 'link', from)
  const found = lookup(space, to, false, 'link')
  if (found.node !== undefined) throw fsError('EEXIST', 'link', undefined, 'File already exists')
  if (found.parent === undefined) throw fsError('ENOENT', 'link', to)
  if (!writable(found)) throw fsError('EPERM', 'link')
  addNode(space, 'link', to)
  found.parent.entries.set(found.name, source.node)
}

export function readlinkSync(path: unknown): string {
  const text = pathOf(path)
  const { node } = lookup(currentSpace(), text, false, 'readlink')
  if (node === undefined) throw fsError('ENOENT', 'readlink', text)
  if (node.kind !== 'link') throw fsError('EINVAL', 'readlink')
  return node.target
}

export function realpathSync(path: unknown): string {
  const text = pathOf(path)
  const found = lookup(currentSpace(), text, true, 'readlink')
  if (found.node === undefined) throw fsError('ENOENT', 'readlink', text)
  return found.path
}

// Descriptors --------------------------------------------------------------------------------

const FLAGS: Readonly<
  Record<
    string,
    {
      read: boolean
      write: boolean
      create: boolean
      truncate: boolean
      append: boolean
      exclusive: boolean
    }
  >
> = {}
for (const [flag, read, write, create, truncate, append] of [
  ['r', 1, 0, 0, 0, 0],
  ['rs', 1, 0, 0, 0, 0],
  ['sr', 1, 0, 0, 0, 0],
  ['r+', 1, 1, 0, 0, 0],
  ['rs+', 1, 1, 0, 0, 0],
  ['sr+', 1, 1, 0, 0, 0],
  ['w', 0, 1, 1, 1, 0],
  ['w+', 1, 1, 1, 1, 0],
  ['a', 0, 1, 1, 0, 1],
  ['as', 0, 1, 1, 0, 1],
  ['sa', 0, 1, 1, 0, 1],
  ['a+', 1, 1, 1, 0, 1],
  ['as+', 1, 1, 1, 0, 1],
  ['sa+', 1, 1, 1, 0, 1],
] as const) {
  const mode = {
    read: read === 1,
    write: write === 1,
    create: create === 1,
    truncate: truncate === 1,
    append: append === 1,
  }
  ;(FLAGS as Record<string, unknown>)[flag] = { ...mode, exclusive: false }
  if (create === 1) {
    ;(FLAGS as Record<string, unknown>)[`${flag[0]}x${flag.slice(1)}`] = {
      ...mode,
      exclusive: true,
    }
    ;(FLAGS as Record<string, unknown>)[`x${flag}`] = { ...mode, exclusive: true }
  }
}

const MAX_FDS = 1024

export function openSync(path: unknown, flags: unknown = 'r'): number {
  const text = pathOf(path)
  const space = currentSpace()
  const mode = FLAGS[typeof flags === 'string' ? flags : 'r']
  if (mode === undefined)
    throw nodeError(
      new TypeError(`The argument 'flags' is invalid. Received '${String(flags).slice(0, 64)}'`),
      'ERR_INVALID_ARG_VALUE'
    )
  const found = lookup(space, text, true, 'open')
  let node = found.node
  if (node !== undefined && mode.exclusive) throw fsError('EEXIST', 'open', text)
  if (node === undefined) {
    if (!mode.create) throw fsError('ENOENT', 'open', text)
    if (found.parent === undefined) throw fsError('ENOENT', 'open', text)
    if (!writable(found)) throw fsError('EPERM', 'open', text)
    addNode(space, 'open', text)
    node = { kind: 'file', readonly: false, data: new Uint8Array(0), size: 0, mtimeMs: Date.now() }
    found.parent.entries.set(found.name, node)
  }
  if (node.kind === 'dir') {
    if (mode.write) throw fsError('EISDIR', 'open', text)
    throw fsError('EISDIR', 'open', text)
  }
  if (node.kind === 'link') throw fsError('ENOENT', 'open', text)
  if (node.kind === 'file' && node.readonly && mode.write) throw fsError('EPERM', 'open', text)
  if (node.kind === 'file') {
    loadFile(node)
    if (mode.truncate) resize(space, node, 0, 'open', text)
  }
  if (space.fds.size >= MAX_FDS) throw fsError('EMFILE', 'open', text)
  const fd = space.nextFd++
  space.fds.set(fd, {
    node,
    path: text,
    readable: mode.read,
    writable: mode.write,
    append: mode.append,
    position: 0,
  })
  return fd
}

export function descriptor(fd: unknown, syscall: string) {
  const found = typeof fd === 'number' ? currentSpace().fds.get(fd) : undefined
  if (found === undefined) throw fsError('EBADF', syscall)
  return found
}

export function closeSync(fd: unknown): void {
  if (typeof fd === 'number') currentSpace().fds.delete(fd)
}

interface Region {
  offset: number
  length: number
  position: number | null
}

function regionOf(buffer: ArrayBufferView, args: unknown[]): Region {
  const first = args[0]
  if (typeof first === 'object' && first !== null) {
    const o = first as { offset?: number; length?: number; position?: number | null }
    return {
      offset: o.offset ?? 0,
      length: o.length ?? buffer.byteLength - (o.offset ?? 0),
      position: o.position ?? null,
    }
  }
  const offset = typeof first === 'number' ? first : 0
  const length = typeof args[1] === 'number' ? args[1] : buffer.byteLength - offset
  const position =
    typeof args[2] === 'number' || typeof args[2] === 'bigint' ? Number(args[2]) : null
  return { offset, length, position }
}

export function readSync(fd: unknown, buffer: ArrayBufferView, ...args: unknown[]): number {
  const d = descriptor(fd, 'read')
  const { offset, length, position } = regionOf(buffer, args)
  const target = new Uint8Array(
    buffer.buffer,
    buffer.byteOffset + offset,
    Math.max(0, Math.min(length, buffer.byteLength - offset))
  )
  const node = d.node
  if (node.kind === 'device') {
    if (node.name === 'null') return 0
    if (node.name === 'random') randomFillSync(target)
    else target.fill(0)
    return target.byteLength
  }
  const at = position ?? d.position
  const bytes = node.data.subarray(
    Math.min(at, node.size),
    Math.min(at + target.byteLength, node.size)
  )
  target.set(bytes)
  if (position === null) d.position += bytes.byteLength
  return bytes.byteLength
}

export function writeSync(fd: unknown, data: Data, ...args: unknown[]): number {
  const d = descriptor(fd, 'write')
  const space = currentSpace()
  let bytes: Uint8Array
  let position: number | null
  if (typeof data === 'string') {
    bytes = Buffer.from(data, typeof args[1] === 'string' ? (args[1] as BufferEncoding) : 'utf8')
    position = typeof args[0] === 'number' ? args[0] : null
  } else {
    const region = regionOf(data, args)
    bytes = new Uint8Array(
      data.buffer,
      data.byteOffset + region.offset,
      Math.max(0, Math.min(region.length, data.byteLength - region.offset))
    )
    position = region.position
  }
  const node = d.node
  if (node.kind === 'device') {
    if (node.name === 'full') throw fsError('EPERM', 'write')
    return bytes.byteLength
  }
  if (node.readonly) throw fsError('EPERM', 'write')
  if (!d.writable) throw fsError('EBADF', 'write')
  const at = d.append ? node.size : (position ?? d.position)
  writeInto(space, node, at, bytes, 'write', d.path)
  if (position === null) d.position = at + bytes.byteLength
  return bytes.byteLength
}

export function fstatSync(fd: unknown, options?: unknown): Stats | object {
  const stats = statsOf(descriptor(fd, 'fstat').node)
  const bigint =
    typeof options === 'object' &&
    options !== null &&
    (options as { bigint?: unknown }).bigint === true
  return bigint ? bigintStats(stats) : stats
}

export function ftruncateSync(fd: unknown, length = 0): void {
  const d = descriptor(fd, 'ftruncate')
  if (d.node.kind !== 'file') return
  if (d.node.readonly || !d.writable) throw fsError('EBADF', 'ftruncate')
  resize(currentSpace(), d.node, Math.max(0, Math.trunc(length)), 'ftruncate', d.path)
}

export function readvSync(fd: unknown, buffers: readonly ArrayBufferView[], at?: unknown): number {
  let total = 0
  for (const buffer of buffers) {
    const n = readSync(fd, buffer, 0, buffer.byteLength, typeof at === 'number' ? at + total : null)
    total += n
    if (n < buffer.byteLength) break
  }
  return total
}

export function writevSync(fd: unknown, buffers: readonly ArrayBufferView[], at?: unknown): number {
  let total = 0
  for (const buffer of buffers)
    total += writeSync(fd, buffer, 0, buffer.byteLength, typeof at === 'number' ? at + total : null)
  return total
}

/** Checks the path exists (workerd accepts and ignores ownership and permission changes). */
export function touchSync(path: unknown): void {
  pathOf(path)
}

export function statfsSync(path: unknown): object {
  pathOf(path)
  return { type: 0, bsize: 0, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 }
}

/** `cpSync(src, dest, { recursive })`: files, and directories with everything under them. */
export function cpSync(src: unknown, dest: unknown, options?: unknown): void {
  const from = pathOf(src, 'src')
  const to = pathOf(dest, 'dest')
  const recursive =
    typeof options === 'object' &&
    options !== null &&
    (options as { recursive?: unknown }).recursive === true
  const { node } = lookup(currentSpace(), from, true, 'cp')
  if (node?.kind !== 'dir') {
    copyFileSync(from, to)
    return
  }
  if (!recursive) throw fsError('EISDIR', 'cp', from)
  const walk = (at: string, into: string, depth: number): void => {
    if (depth > 64) throw fsError('ELOOP', 'cp', at)
    mkdirSync(into, { recursive: true })
    for (const entry of readdirSync(at, { withFileTypes: true }) as Dirent[]) {
      const source = `${at}/${entry.name}`
      const target = `${into}/${entry.name}`
      if (entry.isDirectory()) walk(source, target, depth + 1)
      else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(source), target)
      else copyFileSync(source, target)
    }
  }
  walk(from, to, 0)
}
