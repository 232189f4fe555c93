/** `node:cluster` as workerd gives it: always the primary, and forking throws. */
import { EventEmitter } from 'node:events'
import { notImplemented } from './errors.js'

class Worker extends EventEmitter {}

class Cluster extends EventEmitter {
  readonly domain = null
  readonly isMaster = true
  readonly isPrimary = true
  readonly isWorker = false
  readonly SCHED_NONE = 1
  readonly SCHED_RR = 2
  schedulingPolicy = 2
  readonly settings = {}
  readonly workers = {}
  readonly Worker = Worker
  fork(): never {
    return notImplemented('cluster.fork')()
  }
  disconnect(): never {
    return notImplemented('cluster.disconnect')()
  }
  setupPrimary(): never {
    return notImplemented('cluster.setupPrimary')()
  }
  setupMaster(): never {
    return notImplemented('cluster.setupMaster')()
  }
}

const cluster = new Cluster()
export default cluster
export const { isMaster, isPrimary, isWorker, SCHED_NONE, SCHED_RR, settings, workers } = cluster
export const fork = (): never => cluster.fork()
export { Worker, Cluster }
