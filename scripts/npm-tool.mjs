// Installs a pinned tool package (tools/<name>/package.json) into its own folder, outside the
// workspace lock: used for binaries whose registry packages would break `npm ci` elsewhere.
import { execFileSync } from 'node:child_process'

/** Runs `npm install` in `dir` (no lock file, quiet), bounded to five minutes. */
export function installToolPackage(dir, what) {
  process.stderr.write(`installing ${what} into ${dir} ...\n`)
  execFileSync(
    'npm',
    ['install', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error'],
    {
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 300_000,
    }
  )
}
