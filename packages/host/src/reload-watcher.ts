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
import { watch, type FSWatcher } from 'node:fs'
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
const NEVER_SOURCE = /(^|[\\/])(node_modules|\.git|\.wrangler|\.wharf)([\\/]|$)/
const SECRETS_FILE = /^\.(dev\.vars|env)(\..+)?$/
/** What a module the Worker imports can be (code, JSON, wrangler's default rule types). */
const MODULE_FILE = /\.([cm]?[jt]sx?|json|txt|html|sql|bin|wasm)$/

export class ReloadWatcher {
  private readonly watchers = new Map<string, FSWatcher>()
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
    for (const [dir, recursive] of wanted) {
      if (this.watchers.has(dir)) continue
      if (this.watchers.size >= MAX_WATCHED_DIRS) {
        this.warnOnce(
          `more than ${MAX_WATCHED_DIRS} directories to watch: some changes will not reload`
        )
        break
      }
      this.add(dir, recursive)
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
    for (const watcher of this.watchers.values()) watcher.close()
    this.watchers.clear()
  }

  private add(dir: string, recursive: boolean): void {
    let watcher: FSWatcher
    try {
      watcher = watch(dir, { recursive, persistent: true }, (_event, name) => {
        if (name === null) return
        const path = join(dir, String(name))
        if (this.relevant(path)) this.onChange(path)
      })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // A directory that does not exist (yet) has nothing to reload on.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        this.warnOnce(`cannot watch ${dir}: ${(error as Error).message}`)
      }
      return
    }
    // The directory went away (deleted, unmounted): stop watching it; the next update retries.
    watcher.on('error', () => {
      watcher.close()
      if (this.watchers.get(dir) === watcher) this.watchers.delete(dir)
    })
    this.watchers.set(dir, watcher)
  }

  private warnOnce(text: string): void {
    if (this.warned) return
    this.warned = true
    this.log(`[wharf:warn] watch: ${text}`)
  }
}
