/**
 * TypeScript for a sandboxed runtime. tsx compiles in the runtime with esbuild, a child process,
 * and (on Node 22+) a loader thread: both are what the sandbox forbids. So the supervisor compiles
 * the Worker's own modules first, with its packages left as imports, into the project's
 * `.wrangler/tmp` (where those imports still resolve, and which the watcher ignores), and the
 * runtime loads plain JavaScript with an inline source map.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { buildSync } from 'esbuild'
import { WharfError } from './errors.js'
import type { RuntimeData } from './protocol.js'

let counter = 0

export function prepareMain(
  data: RuntimeData
): { data: RuntimeData; remove: () => void } | undefined {
  if (!/\.[cm]?tsx?$/.test(data.main)) return undefined
  const project = data.projectDir ?? dirname(data.main)
  const dir = join(project, '.wrangler', 'tmp', `wharf-${process.pid}-${++counter}`)
  mkdirSync(dir, { recursive: true })
  const outfile = join(dir, 'index.mjs')
  try {
    buildSync({
      entryPoints: [data.main],
      outfile,
      bundle: true,
      packages: 'external',
      external: ['cloudflare:*', 'node:*'],
      format: 'esm',
      platform: 'node',
      target: 'node20',
      conditions: ['workerd', 'worker'],
      sourcemap: 'inline',
      logLevel: 'silent',
    })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw new WharfError(
      'ERR_WHARF_WORKER_LOAD',
      `the Worker module failed to compile:\n${(error as Error).message}`
    )
  }
  return {
    data: { ...data, main: outfile },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
