#!/usr/bin/env node
// Makes sure the pinned workerd binary is installed under tools/workerd and prints its path.
// Used by the conformance suite and the benchmarks; safe to run repeatedly (it only installs once).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { installToolPackage, toolInstalled } from './npm-tool.mjs'

const root = join(import.meta.dirname, '..')
const dir = join(root, 'tools', 'workerd')
export const WORKERD_VERSION = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  .dependencies.workerd

/** Returns the absolute path of the pinned workerd binary, installing it first if needed. */
export function ensureWorkerd() {
  const bin = join(dir, 'node_modules', '.bin', 'workerd')
  const installed = join(dir, 'node_modules', 'workerd', 'package.json')
  const current = () =>
    existsSync(bin) &&
    existsSync(installed) &&
    JSON.parse(readFileSync(installed, 'utf8')).version === WORKERD_VERSION
  if (!toolInstalled(dir, current)) installToolPackage(dir, `workerd ${WORKERD_VERSION}`, current)
  return bin
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const bin = ensureWorkerd()
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()
  console.log(`${bin} (${version}, npm workerd@${WORKERD_VERSION})`)
}
