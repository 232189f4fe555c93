// Installs a pinned tool package (tools/<name>/package.json) into its own folder, outside the
// workspace lock: used for binaries whose registry packages would break `npm ci` elsewhere.
// Test files run in parallel and may all ask for the same tool, so an install holds a lock
// directory, and a tool counts as installed only once its marker file is written at the end:
// nobody runs a binary that another process is still unpacking.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const INSTALL_TIMEOUT_MS = 300_000
const STALE_LOCK_MS = INSTALL_TIMEOUT_MS + 60_000
const MARKER = '.installed'

const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/** True when `dir`'s install finished and `current()` agrees (the pinned version is there). */
export function toolInstalled(dir, current) {
  return existsSync(join(dir, MARKER)) && current()
}

/**
 * Makes sure the tool in `dir` is installed (`npm install`, no lock file, quiet, bounded to five
 * minutes), waiting for another process's install of it rather than racing it.
 */
export function installToolPackage(dir, what, current = () => true) {
  const lock = join(dir, '.installing')
  const deadline = Date.now() + STALE_LOCK_MS
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch (error) {
      if (error.code !== 'EEXIST') throw error
    }
    let age
    try {
      age = Date.now() - statSync(lock).mtimeMs
    } catch {
      continue // released just now
    }
    if (age > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true })
    else if (Date.now() > deadline)
      throw new Error(`timed out waiting for another install of ${what}`)
    else pause(250)
  }
  try {
    if (toolInstalled(dir, current)) return
    rmSync(join(dir, MARKER), { force: true })
    process.stderr.write(`installing ${what} into ${dir} ...\n`)
    execFileSync(
      'npm',
      ['install', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'], timeout: INSTALL_TIMEOUT_MS }
    )
    if (!current()) throw new Error(`${what}: npm install finished but the tool is not there`)
    writeFileSync(join(dir, MARKER), `${new Date().toISOString()}\n`)
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}
