/**
 * What `wharf dev` reloads on: the files the last build read (esbuild's metafile inputs), the
 * config file(s), the secrets files next to the config (`.dev.vars*`, `.env*`) and the assets
 * directory. Nothing else: `node_modules` outside the bundle, `.git`, `.wharf` (the embedded
 * database), logs and editors' swap files never reload the Worker.
 *
 * Directories are watched, not files, because editors save by renaming a new file over the old
 * one, which a watch on the file itself would lose. They are watched one level deep (the assets
 * directory recursively), and their number is bounded.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path'

export interface WatchTargets {
  /** Absolute paths: bundle inputs and config files. */
  readonly files: readonly string[]
  /** The directory `.dev.vars` and `.env` files are read from. */
  readonly secretsDir: string
  /** Directories whose every file counts (the assets directory). */
  readonly trees: readonly string[]
  /**
   * The last reload failed: then any new or changed file in a watched directory may be the fix
   * (a module the broken import names), except in the directories that never hold one.
   */
  readonly open: boolean
}

/** inotify watches are a per-user resource shared with every other program. */
export const MAX_WATCHED_DIRS = 2048
/** How often a watched directory that went away (a build emptied it) is looked for again. */
const MISSING_POLL_MS = 500
const NEVER_SOURCE = /(^|[\\/])(node_modules|\.git|\.wrangler|\.wharf)([\\/]|$)/
const SECRETS_FILE = /^\.(dev\.vars|env)(\..+)?$/
/** What a module the Worker imports can be (code, JSON, wrangler's default rule types). */
const MODULE_FILE = /\.([cm]?[jt]sx?|json|txt|html|sql|bin|wasm)$/

export class ReloadWatcher {
  private readonly watchers = new Map<string, FSWatcher>()
  /** Every directory the targets need, and whether it is watched recursively. */
  private wanted = new Map<string, boolean>()
  private poll: NodeJS.Timeout | undefined
  private files = new Set<string>()
  private targets: WatchTargets | undefined
  private warned = false

  constructor(
    private readonly onChange: (path: string) => void,
    private readonly log: (line: string) => void
  ) {}

  /** Watches exactly what `targets` needs: new directories are added, unneeded ones closed. */
  update(targets: WatchTargets): void {
    this.targets = targets
    this.files = new Set(targets.files)
    const wanted = new Map<string, boolean>()
    for (const tree of targets.trees) wanted.set(tree, true)
    wanted.set(targets.secretsDir, false)
    for (const file of targets.files) {
      const dir = dirname(file)
      if (!wanted.has(dir)) wanted.set(dir, false)
    }
    for (const [dir, watcher] of this.watchers) {
      if (!wanted.has(dir)) {
        watcher.close()
        this.watchers.delete(dir)
      }
    }
    this.wanted = wanted
    this.addMissing(false)
  }

  /**
   * Watches each wanted directory not watched yet. One that was gone and is back (a build deleted
   * and rewrote it) may hold new versions of its files: that counts as a change.
   */
  private addMissing(reappeared: boolean): void {
    let missing = false
    for (const [dir, recursive] of this.wanted) {
      if (this.watchers.has(dir)) continue
      if (this.watchers.size >= MAX_WATCHED_DIRS) {
        this.warnOnce(
          `more than ${MAX_WATCHED_DIRS} directories to watch: some changes will not reload`
        )
        break
      }
      if (this.add(dir, recursive)) {
        if (reappeared) this.onChange(dir)
      } else missing = true
    }
    if (missing && this.poll === undefined) {
      this.poll = setInterval(() => this.addMissing(true), MISSING_POLL_MS)
      this.poll.unref()
    } else if (!missing && this.poll !== undefined) {
      clearInterval(this.poll)
      this.poll = undefined
    }
  }

  /** Whether a change to `path` (absolute) should reload. */
  relevant(path: string): boolean {
    const targets = this.targets
    if (targets === undefined) return false
    if (this.files.has(path)) return true
    if (dirname(path) === targets.secretsDir && SECRETS_FILE.test(basename(path))) return true
    if (targets.trees.some((tree) => path.startsWith(tree + sep))) return true
    if (!targets.open) return false
    const rel = relative(targets.secretsDir, path)
    const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
    return MODULE_FILE.test(path) && !NEVER_SOURCE.test(inside ? rel : path)
  }

  /** How many directories are watched (for tests and the bound). */
  get size(): number {
    return this.watchers.size
  }

  close(): void {
    clearInterval(this.poll)
    this.poll = undefined
    this.wanted = new Map()
    for (const watcher of this.watchers.values()) watcher.close()
    this.watchers.clear()
  }

  /** Starts watching `dir`; false when it cannot be watched now (it does not exist). */
  private add(dir: string, recursive: boolean): boolean {
    let watcher: FSWatcher | undefined
    const gone = (): void => {
      watcher?.close()
      if (watcher === undefined || this.watchers.get(dir) !== watcher) return
      this.watchers.delete(dir)
      // Looked for again until it is back (addMissing), then its files count as changed.
      this.addMissing(true)
    }
    try {
      watcher = watch(dir, { recursive, persistent: true }, (event, name) => {
        // A deleted directory's watch reports a rename and then nothing, even once it is back.
        // Its files went with it, and when the events are read only after the deletion ended (a
        // busy machine), this is the first and last one: it counts as a change.
        if (event === 'rename' && !existsSync(dir)) {
          this.onChange(dir)
          return gone()
        }
        if (name === null) return
        const path = join(dir, String(name))
        if (this.relevant(path)) this.onChange(path)
      })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        this.warnOnce(`cannot watch ${dir}: ${(error as Error).message}`)
      }
      return false
    }
    watcher.on('error', gone)
    this.watchers.set(dir, watcher)
    return true
  }

  private warnOnce(text: string): void {
    if (this.warned) return
    this.warned = true
    this.log(`[wharf:warn] watch: ${text}`)
  }
}
