/**
 * A Worker's socket limit across every `wharf serve` host that shares one Redis
 * (`wharf.serve.shared_sockets`): each brokered connection of the Worker, on any host, holds one
 * of `maxOpen` slots. The state lives in Redis (a hash of each host's count and a sorted set of
 * the hosts' heartbeat deadlines, both under the prefix and the Worker's name), so a host that
 * dies without a word stops counting once its heartbeat lapses. This host's own count is the
 * truth for its field: every heartbeat writes it back, which also repairs the state after a
 * Redis restart.
 *
 * A dial past the limit waits in a FIFO queue (bounded in length and time) and is retried when a
 * slot of this host frees and every `RETRY_MS`. When Redis cannot be reached, `onUnavailable`
 * decides: `allow` (the default) admits on the host's own limits alone, `refuse` fails the dial.
 */
import { randomUUID } from 'node:crypto'
import { parseRedisUrl, redactedUrl, RedisClient } from '@wharf/pool/redis'
import { WharfSharedStateError } from '../errors.js'
import type { ServeLog } from './log.js'
import { SlotLedger } from './slot-ledger.js'

export interface SharedSocketSettings {
  /** `redis://[:password@]host:port[/db]`. */
  readonly redis: string
  /** Open sockets of this Worker across all hosts. */
  readonly maxOpen: number
  /** Key prefix: hosts with the same prefix and Worker name share the limit. */
  readonly prefix: string
  readonly onUnavailable: 'allow' | 'refuse'
}

const HEARTBEAT_MS = 1000
/** A host whose heartbeat is older than this no longer counts. */
const HOST_TTL_MS = 5000
const RETRY_MS = 25
const COMMAND_TIMEOUT_MS = 250

/** Redis's clock, in ms: the hosts' clocks need not agree. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** Drops the hosts whose heartbeat lapsed and renews this one's (KEYS: counts, hosts). */
const PRUNE = `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #dead do redis.call('HDEL', KEYS[1], dead[i]) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]))`

/** ARGV: host, ttl, max. Returns this host's new count, or -1 when all slots are taken. */
const ACQUIRE = `${PRUNE}
local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
if sum >= tonumber(ARGV[3]) then return -1 end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return n`

/** ARGV: host, ttl, count. */
const HEARTBEAT = `${PRUNE}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 0`

/** ARGV: host, n. */
const RELEASE = `local v = redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
if v < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end
return 0`

export class SharedSockets {
  private readonly client: RedisClient
  private readonly countsKey: string
  private readonly hostsKey: string
  private readonly host = randomUUID()
  private readonly ledger = new SlotLedger()
  /** An acquire is in flight: the heartbeat reports it too, so Redis's count is never short. */
  private asking = false
  private retryTimer: NodeJS.Timeout | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private unavailableSince: number | undefined
  private closed = false

  constructor(
    private readonly worker: string,
    private readonly settings: SharedSocketSettings,
    private readonly limits: { readonly queueTimeoutMs: number; readonly maxQueued: number },
    private readonly log: ServeLog
  ) {
    this.client = new RedisClient(parseRedisUrl(settings.redis, 'wharf.serve.shared_sockets.redis'))
    this.countsKey = `${settings.prefix}${worker}:counts`
    this.hostsKey = `${settings.prefix}${worker}:hosts`
  }

  /** Connects and registers this host; rejects when Redis cannot be reached or refuses AUTH. */
  async start(): Promise<void> {
    if (this.heartbeat !== undefined) return
    try {
      await this.beat(2000)
    } catch (error) {
      await this.client.close()
      throw new WharfSharedStateError(
        `Worker ${this.worker}: wharf.serve.shared_sockets: Redis at ${redactedUrl(this.settings.redis)} cannot be reached (${(error as Error).message})`,
        { cause: error }
      )
    }
    this.heartbeat = setInterval(() => {
      this.beat(COMMAND_TIMEOUT_MS).catch((error: unknown) => this.lost(error))
    }, HEARTBEAT_MS)
    this.heartbeat.unref()
    this.log(
      'info',
      `Worker ${this.worker}: at most ${this.settings.maxOpen} open sockets across the hosts sharing ${redactedUrl(this.settings.redis)}`,
      { event: 'shared_sockets', worker: this.worker, max_open: this.settings.maxOpen }
    )
  }

  /** This host's sockets of the Worker (held, not waiting). */
  get openSockets(): number {
    return this.ledger.total
  }

  get queuedSockets(): number {
    return this.ledger.queued
  }

  acquire(owner: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('shared socket limit: the host is closing'))
    if (this.ledger.queued >= this.limits.maxQueued) {
      return Promise.reject(new Error('shared socket limit: the queue is full'))
    }
    const waited = this.ledger.wait(
      owner,
      this.limits.queueTimeoutMs,
      `shared socket limit: waited ${this.limits.queueTimeoutMs} ms for one of the ${this.settings.maxOpen} sockets Worker ${this.worker} may hold across its hosts`
    )
    this.retry()
    return waited
  }

  /** Gives back up to `n` of `owner`'s slots. */
  release(owner: number, n = 1): void {
    const count = this.ledger.give(owner, n)
    if (count === 0) return
    this.giveBack(count)
  }

  /** The runtime is gone: its slots are free and its waiting dials fail. */
  releaseAll(owner: number): void {
    this.release(owner, this.ledger.heldBy(owner))
    this.ledger.refuse(owner, 'the runtime process exited')
  }

  /** Stops counting this host. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    clearTimeout(this.retryTimer)
    this.ledger.refuse(undefined, 'shared socket limit: the host is closing')
    await this.client
      .run(['HDEL', this.countsKey, this.host], COMMAND_TIMEOUT_MS)
      .then(() => this.client.run(['ZREM', this.hostsKey, this.host], COMMAND_TIMEOUT_MS))
      .catch(() => undefined) // its heartbeat lapses instead
    await this.client.close()
  }

  private async beat(timeoutMs: number): Promise<void> {
    await this.client.run(
      [
        'EVAL',
        HEARTBEAT,
        '2',
        this.countsKey,
        this.hostsKey,
        this.host,
        String(HOST_TTL_MS),
        String(this.ledger.total + (this.asking ? 1 : 0)),
      ],
      timeoutMs
    )
    this.back()
  }

  /** Serves the queue's head, one Redis call at a time, in order. */
  private retry(): void {
    if (this.asking || this.closed || this.ledger.head === undefined) return
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.asking = true
    this.ask().then(
      (granted) => {
        this.asking = false
        if (granted === 'refused') {
          this.retry()
        } else if (granted) {
          // The head may have left (timed out, its runtime exited) while Redis answered.
          if (this.closed || !this.ledger.grantHead()) this.giveBack(1)
          this.retry()
        } else if (this.ledger.head !== undefined) {
          this.retryTimer = setTimeout(() => this.retry(), RETRY_MS)
          this.retryTimer.unref()
        }
      },
      (error: unknown) => {
        this.asking = false
        this.log('error', `shared socket limit: ${String(error)}`)
      }
    )
  }

  /** One slot from Redis: true, false when all are taken, 'refused' when Redis is lost and the policy refuses. */
  private async ask(): Promise<boolean | 'refused'> {
    try {
      const reply = await this.client.run(
        [
          'EVAL',
          ACQUIRE,
          '2',
          this.countsKey,
          this.hostsKey,
          this.host,
          String(HOST_TTL_MS),
          String(this.settings.maxOpen),
        ],
        COMMAND_TIMEOUT_MS
      )
      this.back()
      return reply !== -1
    } catch (error) {
      this.lost(error)
      if (this.settings.onUnavailable === 'allow') return true // the next heartbeat counts it
      const head = this.ledger.head
      if (head !== undefined) {
        this.ledger.remove(head)
        head.refuse('shared socket limit: Redis cannot be reached')
      }
      return 'refused'
    }
  }

  /** Returns `n` slots to Redis (the next heartbeat corrects a lost one), then serves waiters. */
  private giveBack(n: number): void {
    if (!this.closed) {
      this.client
        .run(['EVAL', RELEASE, '1', this.countsKey, this.host, String(n)], COMMAND_TIMEOUT_MS)
        .catch((error: unknown) => this.lost(error))
    }
    this.retry()
  }

  private lost(error: unknown): void {
    if (this.unavailableSince !== undefined || this.closed) return
    this.unavailableSince = Date.now()
    const then =
      this.settings.onUnavailable === 'allow'
        ? "sockets are limited by this host's own limits until it is back"
        : 'sockets are refused until it is back'
    this.log(
      'warn',
      `Worker ${this.worker}: the shared socket limit's Redis cannot be reached (${error instanceof Error ? error.message : String(error)}); ${then}`,
      { event: 'shared_sockets_unavailable', worker: this.worker }
    )
  }

  private back(): void {
    if (this.unavailableSince === undefined) return
    this.log(
      'info',
      `Worker ${this.worker}: the shared socket limit's Redis is back after ${Date.now() - this.unavailableSince} ms`,
      { event: 'shared_sockets_back', worker: this.worker }
    )
    this.unavailableSince = undefined
  }
}

/** Host-wide bound on dials waiting for a shared slot, as for the host's own slots. */
const MAX_QUEUED = 10_000

/** The Worker's shared limit when its settings ask for one (started by its pool's first deploy). */
export function sharedSocketsFor(
  worker: string,
  settings: SharedSocketSettings | undefined,
  queueTimeoutMs: number,
  log: ServeLog
): SharedSockets | undefined {
  if (settings === undefined) return undefined
  return new SharedSockets(worker, settings, { queueTimeoutMs, maxQueued: MAX_QUEUED }, log)
}
