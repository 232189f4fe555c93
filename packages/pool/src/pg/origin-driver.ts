/**
 * The PostgreSQL half of the origin pool: opening a connection, RESET ALL, ROLLBACK and
 * CancelRequest (core/origin-pool.ts does the counting, waiting and idling).
 */
import { connectOrigin } from '../core/origin-dial.js'
import { OriginPool, type OriginDriver, type PoolLimits } from '../core/origin-pool.js'
import { OriginConnection, type OriginOptions } from './origin.js'
import * as m from './protocol.js'

/** Statements prepared on one connection beyond which a reset also deallocates them. */
export const MAX_PREPARED_PER_ORIGIN = 2_000
const RESET = m.query('RESET ALL')
const RESET_AND_DEALLOCATE = m.query('RESET ALL; DEALLOCATE ALL')
const ROLLBACK = m.query('ROLLBACK')

export type PgPool = OriginPool<OriginConnection>

export function pgOriginPool(options: OriginOptions, limits: PoolLimits): PgPool {
  return new OriginPool(pgDriver(options), limits)
}

/** Runs one simple query the pool injected; `done(ok)` once, at ReadyForQuery or after 5 s. */
function injected(
  conn: OriginConnection,
  query: Buffer,
  done: (ok: boolean) => void,
  idleAfter: boolean
): void {
  let failed = false
  const timer = setTimeout(() => {
    conn.onFrame = undefined
    done(false)
  }, 5000)
  conn.onFrame = (frame) => {
    if (frame.type === 'E') failed = true
    else if (frame.type === 'Z') {
      clearTimeout(timer)
      conn.onFrame = undefined
      done(!failed && (!idleAfter || frame.body[0] === 0x49))
    }
  }
  conn.write(query)
}

export function pgDriver(options: OriginOptions): OriginDriver<OriginConnection> {
  return {
    open: () => OriginConnection.open(options),
    detach(conn) {
      conn.onFrame = undefined
    },
    reset(conn, done) {
      // Too many statements prepared on it: drop them too (they are re-Parsed on demand).
      if (conn.prepared.size > MAX_PREPARED_PER_ORIGIN) {
        conn.prepared.clear()
        injected(conn, RESET_AND_DEALLOCATE, done, true)
      } else injected(conn, RESET, done, true)
    },
    rollback(conn, done) {
      // ROLLBACK outside a transaction only warns; the connection must end up idle.
      injected(conn, ROLLBACK, done, true)
    },
    cancel(conn) {
      // A CancelRequest goes on a connection of its own, the same way the origin is reached.
      connectOrigin(conn.host, conn.port, AbortSignal.timeout(5000), options.dial).then(
        (socket) => {
          socket.on('error', () => undefined)
          socket.setTimeout(5000, () => socket.destroy())
          socket.end(m.cancelRequest(conn.pid, conn.secretKey))
        },
        () => undefined
      )
    },
  }
}
