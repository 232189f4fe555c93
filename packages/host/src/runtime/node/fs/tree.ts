/**
 * workerd's virtual file system as a tree of plain objects: `/bundle` (the Worker's modules,
 * read-only, loaded from the version directory on first read), `/dev` (null, zero, full, random)
 * and `/tmp`, which belongs to the request running (module-scope code has one of its own). A
 * request's /tmp is made on its first use and is dropped with the request's scope, so requests
 * that never touch fs pay nothing. Hand-written rather than memfs: workerd's errors (which
 * syscall, whether the path or only its last name is reported) follow its own implementation,
 * not POSIX, and matching them in memfs would mean rewriting its error paths.
 */
import { readFileSync } from 'node:fs'
import { currentScope, type RequestScope } from '../../request-scope.js'
import { fsError } from './errors.js'

export interface FileNode {
  readonly kind: 'file'
  readonly readonly: boolean
  data: Uint8Array
  size: number
  mtimeMs: number
  /** A bundle file's source on disk, read on first use. */
  source?: string
}
export interface DirNode {
  readonly kind: 'dir'
  readonly readonly: boolean
  readonly entries: Map<string, Node>
}
export interface LinkNode {
  readonly kind: 'link'
  readonly target: string
}
export interface DeviceNode {
  readonly kind: 'device'
  readonly name: 'null' | 'zero' | 'full' | 'random'
}
export type Node = FileNode | DirNode | LinkNode | DeviceNode

/** Bounds of one request's /tmp (and of module scope's): see docs/host.md. */
export const TMP_MAX_BYTES = 32 * 1024 * 1024
export const TMP_MAX_NODES = 10_000
export const MAX_PATH = 4096
const MAX_LINKS = 40

const spaces = new WeakMap<RequestScope, Space>()
let moduleSpace: Space | undefined

export function currentSpace(): Space {
  const scope = currentScope()
  if (scope === undefined) return (moduleSpace ??= new Space())
  let space = spaces.get(scope)
  if (space === undefined) {
    space = new Space()
    spaces.set(scope, space)
  }
  return space
}

const bundle: DirNode = { kind: 'dir', readonly: true, entries: new Map() }
const dev: DirNode = {
  kind: 'dir',
  readonly: true,
  entries: new Map<string, Node>(
    (['null', 'zero', 'full', 'random'] as const).map((name) => [name, { kind: 'device', name }])
  ),
}

/** One /tmp and its descriptors: per request, made lazily. */
export class Space {
  readonly tmp: DirNode = { kind: 'dir', readonly: false, entries: new Map() }
  /** The root as this space's code sees it (its own /tmp). */
  readonly root: DirNode = {
    kind: 'dir',
    readonly: true,
    entries: new Map<string, Node>([
      ['bundle', bundle],
      ['tmp', this.tmp],
      ['dev', dev],
    ]),
  }
  bytes = 0
  nodes = 0
  readonly fds = new Map<number, Descriptor>()
  nextFd = 3
  tempCounter = 0
}

export interface Descriptor {
  readonly node: FileNode | DeviceNode
  readonly path: string
  readonly readable: boolean
  readonly writable: boolean
  readonly append: boolean
  position: number
}

/** Fills /bundle: `files` maps each module's name (as workerd names it) to its file on disk. */
export function setBundle(files: Readonly<Record<string, string>>): void {
  bundle.entries.clear()
  for (const [name, source] of Object.entries(files)) {
    const parts = name.split('/').filter((p) => p !== '' && p !== '.' && p !== '..')
    const leaf = parts.pop()
    if (leaf === undefined) continue
    let dir = bundle
    for (const part of parts) {
      let next = dir.entries.get(part)
      if (next === undefined) {
        next = { kind: 'dir', readonly: true, entries: new Map() }
        dir.entries.set(part, next)
      }
      if (next.kind !== 'dir') break
      dir = next
    }
    dir.entries.set(leaf, {
      kind: 'file',
      readonly: true,
      data: new Uint8Array(0),
      size: -1,
      mtimeMs: 0,
      source,
    })
  }
}

/** A bundle file's bytes (read from the version directory once). */
export function loadFile(node: FileNode): void {
  if (node.source === undefined || node.size >= 0) return
  const data = readFileSync(node.source)
  node.data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  node.size = data.byteLength
}

/** Absolute, normalised components of `path` (relative paths start at /bundle, workerd's cwd). */
export function components(path: string): string[] {
  const parts = path.startsWith('/') ? [] : ['bundle']
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') parts.pop()
    else parts.push(part)
  }
  return parts
}

/** A link's target as components: absolute, or relative to the link's directory. */
function linkTarget(target: string, dir: readonly string[]): string[] {
  return components(target.startsWith('/') ? target : `/${[...dir, target].join('/')}`)
}

export interface Found {
  /** The directory holding the last component (undefined when a parent is missing). */
  readonly parent: DirNode | undefined
  readonly name: string
  readonly node: Node | undefined
  /** The normalised path of what was found (after links). */
  readonly path: string
}

/** Resolves `path`; intermediate links are always followed, the last one only if `follow`. */
export function lookup(space: Space, path: string, follow: boolean, syscall: string): Found {
  let parts = components(path)
  let hops = 0
  const top = space.root
  for (;;) {
    let dir: DirNode | undefined = top
    let i = 0
    let restart = false
    for (; i < parts.length - 1 && dir !== undefined; i++) {
      const next: Node | undefined = dir.entries.get(parts[i] ?? '')
      if (next?.kind === 'link') {
        if (++hops > MAX_LINKS) throw fsError('ELOOP', syscall, path)
        parts = [...linkTarget(next.target, parts.slice(0, i)), ...parts.slice(i + 1)]
        restart = true
        break
      }
      dir = next?.kind === 'dir' ? next : undefined
    }
    if (restart) continue
    if (parts.length === 0) return { parent: undefined, name: '', node: top, path: '/' }
    const name = parts[parts.length - 1] ?? ''
    const node = dir?.entries.get(name)
    if (follow && node?.kind === 'link') {
      if (++hops > MAX_LINKS) throw fsError('ELOOP', syscall, path)
      parts = linkTarget(node.target, parts.slice(0, -1))
      continue
    }
    return { parent: dir, name, node, path: `/${parts.join('/')}` }
  }
}

/** Whether `found` lies in the writable /tmp (its parent is /tmp or below it). */
export function writable(found: Found): boolean {
  return found.parent !== undefined && !found.parent.readonly
}

/** Counts a new node against the space's bound. */
export function addNode(space: Space, syscall: string, path: string): void {
  if (space.nodes >= TMP_MAX_NODES) throw fsError('ENOSPC', syscall, path)
  space.nodes++
}

/** Grows or shrinks a /tmp file to `size` bytes, within the space's byte bound. */
export function resize(
  space: Space,
  file: FileNode,
  size: number,
  syscall: string,
  path: string
): void {
  const delta = size - file.size
  if (delta > 0 && space.bytes + delta > TMP_MAX_BYTES) throw fsError('ENOSPC', syscall, path)
  if (size > file.data.byteLength) {
    const grown = new Uint8Array(
      Math.min(TMP_MAX_BYTES, Math.max(size, file.data.byteLength * 2, 64))
    )
    grown.set(file.data.subarray(0, file.size))
    file.data = grown
  } else if (size < file.size) {
    file.data.fill(0, size, file.size)
  }
  space.bytes += delta
  file.size = size
}

/** Bytes a node and everything under it holds (to give back when it is removed). */
export function release(space: Space, node: Node): void {
  space.nodes--
  if (node.kind === 'file' && !node.readonly) space.bytes -= node.size
  if (node.kind === 'dir') for (const child of node.entries.values()) release(space, child)
}
