/** `node:vm` as workerd gives it: scripts and contexts can be made, never run. */
import { notImplemented, requireType } from './errors.js'

const run = notImplemented('runInThisContext')

export class Script {
  runInThisContext = run
  runInContext = run
  runInNewContext = run
}
export const createScript = (): Script => new Script()
export const createContext = (context: object = {}): object => context
export const isContext = (object?: unknown): boolean => {
  requireType(object, 'object', 'object')
  return false
}
export const runInContext = (_code?: unknown, context?: unknown): never => {
  requireType(context, 'object', 'object')
  return run()
}
export const runInNewContext = run
export const runInThisContext = run
export const compileFunction = (code?: unknown): never => {
  requireType(code, 'code', 'string')
  return notImplemented('compileFunction')()
}
export const measureMemory = notImplemented('measureMemory')
export const constants = Object.freeze({})

export default {
  Script,
  compileFunction,
  constants,
  createContext,
  createScript,
  isContext,
  measureMemory,
  runInContext,
  runInNewContext,
  runInThisContext,
}
