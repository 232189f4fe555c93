#!/usr/bin/env node
// Installs Node 22 and 24 (registry packages that ship the binary) under tools/node so tests can
// run the register entry on every supported Node major. Prints their paths.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { installToolPackage, toolInstalled } from './npm-tool.mjs'

const dir = join(import.meta.dirname, '..', 'tools', 'node')

/** Absolute paths of the extra Node binaries, installing them first if needed. */
export function ensureExtraNodes() {
  const bins = ['node22', 'node24'].map((name) => join(dir, 'node_modules', name, 'bin', 'node'))
  const present = () => bins.every((bin) => existsSync(bin))
  if (!toolInstalled(dir, present)) installToolPackage(dir, 'Node 22 and 24', present)
  return bins
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const bin of ensureExtraNodes()) {
    console.log(`${bin} ${execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()}`)
  }
}
