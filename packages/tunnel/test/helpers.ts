// A tunnel on loopback for tests: an edge with the test PKI's localhost certificate, and
// connectors with a fresh token each.
import { createHash } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { testPki } from '../../../test-support/certs.js'
import {
  TunnelConnector,
  TunnelEdge,
  formatToken,
  newToken,
  type TunnelToken,
} from '../src/index.js'

export interface LoopbackTunnel {
  edge: TunnelEdge
  token: TunnelToken
  ca: string
  lines: string[]
  connector(ingress: unknown, extra?: { token?: string }): TunnelConnector
  close(): Promise<void>
}

export async function loopbackTunnel(tunnelId = 'office'): Promise<LoopbackTunnel> {
  const pki = testPki()
  const token = newToken(tunnelId)
  const lines: string[] = []
  const edge = await TunnelEdge.start({
    cert: pki.localhost.cert,
    key: pki.localhost.key,
    tunnels: [
      { id: tunnelId, keys: [{ id: token.key, secret: token.secret.toString('base64url') }] },
    ],
    log: (line) => lines.push(line),
  })
  const connectors: TunnelConnector[] = []
  return {
    edge,
    token,
    ca: pki.ca,
    lines,
    connector(ingress, extra = {}) {
      const connector = new TunnelConnector({
        edge: `localhost:${edge.address.port}`,
        token: extra.token ?? formatToken(token),
        ingress,
        ca: pki.ca,
        backoffInitialMs: 50,
        backoffMaxMs: 200,
        log: (line) => lines.push(line),
      }).start()
      connectors.push(connector)
      return connector
    },
    async close() {
      for (const c of connectors) c.stop()
      await edge.close()
    },
  }
}

/** Writes `bytes` random-ish bytes in chunks and returns their SHA-256. */
export function writeStream(socket: Duplex, bytes: number): Promise<string> {
  const hash = createHash('sha256')
  const chunk = Buffer.alloc(64 * 1024)
  let sent = 0
  let seed = 1
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    const pump = (): void => {
      while (sent < bytes) {
        for (let i = 0; i < chunk.length; i += 4) {
          seed = (seed * 1103515245 + 12345) >>> 0
          chunk.writeUInt32LE(seed, i)
        }
        const piece = chunk.subarray(0, Math.min(chunk.length, bytes - sent))
        hash.update(piece)
        sent += piece.length
        if (!socket.write(Buffer.from(piece))) {
          socket.once('drain', pump)
          return
        }
      }
      socket.end()
      resolve(hash.digest('hex'))
    }
    pump()
  })
}

/** Reads until EOF and returns the count and SHA-256 of what arrived. */
export function readAll(
  socket: Duplex,
  timeoutMs = 60_000
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no EOF within ${timeoutMs} ms (${bytes} bytes read)`)),
      timeoutMs
    )
    socket.on('data', (d: Buffer) => {
      hash.update(d)
      bytes += d.length
    })
    socket.once('end', () => {
      clearTimeout(timer)
      resolve({ bytes, sha256: hash.digest('hex') })
    })
    socket.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.resume()
  })
}
