/** `node:child_process` as workerd gives it under nodejs_compat: every way to run a process throws. */
import { notImplemented, requireType } from './errors.js'

const fail = (name: string) => notImplemented(`child_process.${name}`)

export class ChildProcess {
  constructor() {
    fail('ChildProcess')()
  }
}
export function exec(command?: unknown): never {
  requireType(command, 'command', 'string')
  return fail('exec')()
}
export function spawnSync(command?: unknown): never {
  requireType(command, 'command', 'string')
  return fail('spawnSync')()
}
export const execFile = fail('execFile')
export const execFileSync = fail('execFileSync')
export const execSync = fail('execSync')
export const fork = fail('fork')
export const spawn = fail('spawn')
export const _forkChild = fail('_forkChild')

export default {
  ChildProcess,
  _forkChild,
  exec,
  execFile,
  execFileSync,
  execSync,
  fork,
  spawn,
  spawnSync,
}
