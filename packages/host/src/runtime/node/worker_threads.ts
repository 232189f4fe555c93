/** `node:worker_threads` as workerd gives it: one thread, the main one; new threads throw. */
import { notImplemented } from './errors.js'

export class Worker {
  constructor() {
    notImplemented('Worker')()
  }
}
export class BroadcastChannel {
  constructor() {
    notImplemented('BroadcastChannel')()
  }
}
export const MessageChannel = globalThis.MessageChannel
export const MessagePort = globalThis.MessagePort
export const SHARE_ENV = Symbol.for('nodejs.worker_threads.SHARE_ENV')
export const isMainThread = true
export const isInternalThread = false
export const parentPort = null
export const threadId = 0
export const workerData = null
export const resourceLimits = {}
const environment = new Map<unknown, unknown>()
export const getEnvironmentData = (key: unknown): unknown => environment.get(key)
export const setEnvironmentData = (key: unknown, value: unknown): void => {
  environment.set(key, value)
}
const untransferable = new WeakSet<object>()
export const markAsUntransferable = (value: unknown): void => {
  if ((typeof value === 'object' && value !== null) || typeof value === 'function')
    untransferable.add(value)
}
export const isMarkedAsUntransferable = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && untransferable.has(value)
export const markAsUncloneable = (): void => undefined
export const receiveMessageOnPort = (): undefined => undefined
export const moveMessagePortToContext = (): never => {
  throw new TypeError('Illegal constructor')
}
export const postMessageToThread = notImplemented('postMessageToThread')

export default {
  BroadcastChannel,
  MessageChannel,
  MessagePort,
  SHARE_ENV,
  Worker,
  getEnvironmentData,
  isInternalThread,
  isMainThread,
  isMarkedAsUntransferable,
  markAsUncloneable,
  markAsUntransferable,
  moveMessagePortToContext,
  parentPort,
  postMessageToThread,
  receiveMessageOnPort,
  resourceLimits,
  setEnvironmentData,
  threadId,
  workerData,
}
