#!/usr/bin/env node
// Builds native/build/fd-channel.node of @wharf/host: the descriptor-passing channel of the dial
// broker (native/fd-channel.c). It runs as the package's install step, in this repository and
// for a consumer who installs @wharf/host from the registry. It is an N-API module, so one build
// serves every Node version from 20 on. Without a C compiler or Node's headers the host still
// works: it passes sockets over Node's IPC channel instead, which costs more CPU per connection.
// This script then says so and exits 0, so that an install never fails for it.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const hostRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const source = join(hostRoot, 'native/fd-channel.c')
const output = join(hostRoot, 'native/build/fd-channel.node')

/** A directory with Node's node_api.h and uv.h, or undefined. */
export function headerDirectory() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
    resolve(dirname(process.execPath), '../include/node'),
    join(homedir(), '.cache/node-gyp', process.versions.node, 'include/node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ]
  return candidates.find(
    (dir) => dir && existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h'))
  )
}

/** Compiles one C file into an N-API module; returns why not, or undefined when it did. */
export function compileNative(from, to) {
  const headers = headerDirectory()
  if (headers === undefined) return 'no Node headers with node_api.h and uv.h were found'
  mkdirSync(dirname(to), { recursive: true })
  const compiler = process.env.CC || 'cc'
  const flags = ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter']
  const result = spawnSync(
    compiler,
    [...flags, '-shared', '-fPIC', `-I${headers}`, '-o', to, from],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 120_000 }
  )
  if (result.error) return `${compiler}: ${result.error.message}`
  if (result.status !== 0) return `${compiler} exited with ${result.status}`
  return undefined
}

function main() {
  const skip = (reason) =>
    console.warn(
      `[build-native] fd-channel not built (${reason}); the host passes sockets over Node's IPC channel instead`
    )
  if (process.platform !== 'linux') {
    skip(`${process.platform}: only Linux isolates runtimes in a network namespace`)
    return
  }
  if (process.env.WHARF_FD_CHANNEL === 'off') {
    skip('WHARF_FD_CHANNEL=off')
    return
  }
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return
  const failed = compileNative(source, output)
  if (failed !== undefined) skip(failed)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main()
}
