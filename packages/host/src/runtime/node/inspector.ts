/** `node:inspector` as workerd gives it: no debugger to open or attach a session to. */
import { notImplemented } from './errors.js'

export class Session {
  constructor() {
    notImplemented('Session')()
  }
}
export const open = (): object => ({ [Symbol.dispose]: () => undefined })
export const close = (): void => undefined
export const url = (): undefined => undefined
export const waitForDebugger = (): void => undefined
export const console = globalThis.console
export const Network = Object.freeze({})

export default { Network, Session, close, console, open, url, waitForDebugger }
