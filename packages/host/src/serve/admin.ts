/**
 * The admin listener of `wharf serve`: `/healthz` (the supervisor answers), `/readyz` (a version
 * is deployed and one of its runtimes can take a request), `/metrics` (Prometheus text),
 * `/status.json`, and the operator page at `/`. It binds separately from the Worker's listener
 * (loopback by default) and answers only GET/HEAD, with small bounded responses.
 */
import http from 'node:http'
import { operatorPage } from './operator-page.js'

export interface AdminSource {
  ready(): boolean
  metrics(): string
  status(): Record<string, unknown>
}

export function createAdminServer(source: AdminSource): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n')
      return
    }
    switch (path) {
      case '/healthz':
        send(200, 'text/plain; charset=utf-8', 'ok\n')
        return
      case '/readyz':
        if (source.ready()) send(200, 'text/plain; charset=utf-8', 'ready\n')
        else send(503, 'text/plain; charset=utf-8', 'not ready\n')
        return
      case '/metrics':
        send(200, 'text/plain; version=0.0.4; charset=utf-8', source.metrics())
        return
      case '/status.json':
        send(200, 'application/json', JSON.stringify(source.status()))
        return
      case '/':
        res.setHeader(
          'content-security-policy',
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"
        )
        send(200, 'text/html; charset=utf-8', operatorPage())
        return
      default:
        send(404, 'text/plain; charset=utf-8', 'not found\n')
    }
  })
  // Slow or oversized clients cannot hold the admin listener.
  server.headersTimeout = 10_000
  server.requestTimeout = 10_000
  server.maxHeadersCount = 50
  return server
}
