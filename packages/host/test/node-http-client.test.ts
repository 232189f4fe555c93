// node:http and node:https clients in a Worker connect through the host's broker, as fetch()
// does: isolated (the runtime has no network of its own) they reach an allowed server, and with
// or without isolation the egress policy refuses a denied one (before this, isolated they failed
// with ECONNREFUSED and unisolated they skipped the policy).
import assert from 'node:assert/strict'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { testPki } from '../../../test-support/certs.js'
import {
  ALLOW_TEST_SERVERS,
  FIXTURES,
  get,
  startWharf,
  tempProject,
  type Wharf,
} from './helpers.js'

interface Seen {
  method: string
  url: string
  body: string
}

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

describe('wharf dev: node:http and node:https clients in a Worker', () => {
  const seen: Seen[] = []
  const handler: http.RequestListener = (req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body })
      res.end(`served ${req.method} ${req.url}${body ? ` (${body})` : ''}`)
    })
  }
  const plain = http.createServer(handler)
  const pki = testPki()
  const secure = https.createServer({ key: pki.localhost.key, cert: pki.localhost.cert }, handler)
  let plainPort = 0
  let securePort = 0
  let project: ReturnType<typeof tempProject>
  const started: Wharf[] = []

  before(async () => {
    ;[plainPort, securePort] = await Promise.all([listen(plain), listen(secure)])
    project = tempProject({
      'worker.js': readFileSync(join(FIXTURES, 'node-http-client', 'worker.js'), 'utf8'),
      'wrangler.json': JSON.stringify({
        main: 'worker.js',
        compatibility_date: '2025-10-08',
        compatibility_flags: ['nodejs_compat'],
        vars: { CA: pki.ca },
      }),
    })
  })
  after(async () => {
    await Promise.all(started.map((w) => w.stop()))
    plain.close()
    secure.close()
    project.remove()
  })

  for (const isolation of ['auto', 'none']) {
    it(`--isolation ${isolation}: get, POST with agent: false, an own Agent and https reach an allowed server`, async () => {
      const wharf = await startWharf(project.dir, [
        '--no-watch',
        '--isolation',
        isolation,
        '--allow',
        ALLOW_TEST_SERVERS,
      ])
      started.push(wharf)
      const before = seen.length
      assert.equal(
        (await get(`${wharf.url}/get?port=${plainPort}`)).body,
        '200 served GET /path?q=1'
      )
      assert.equal(
        (await get(`${wharf.url}/post?port=${plainPort}`)).body,
        '200 served POST /upload (a body)'
      )
      assert.equal(
        (await get(`${wharf.url}/agent?port=${plainPort}`)).body,
        '200 served GET /own-agent'
      )
      assert.equal(
        (await get(`${wharf.url}/https?port=${securePort}`)).body,
        '200 served GET /secure'
      )
      assert.equal(seen.length, before + 4)
    })

    it(`--isolation ${isolation}: a socketPath (a host's local socket file) is refused`, async () => {
      const wharf = started[started.length - 1]
      assert.ok(wharf)
      const dir = mkdtempSync(join(tmpdir(), 'wharf-http-sock-'))
      const path = join(dir, 's')
      const local = http.createServer(handler)
      await new Promise<void>((resolve) => local.listen(path, resolve))
      try {
        const before = seen.length
        const reply = await get(`${wharf.url}/socket-path?path=${encodeURIComponent(path)}`)
        assert.equal(
          reply.body,
          'error Error: wharf: node:http socketPath is not available to a Worker'
        )
        assert.equal(seen.length, before, 'nothing reached the local socket')
      } finally {
        local.close()
        rmSync(dir, { recursive: true, force: true })
      }
    })

    it(`--isolation ${isolation}: the egress policy refuses a denied server, which sees nothing`, async () => {
      const wharf = await startWharf(project.dir, ['--no-watch', '--isolation', isolation])
      started.push(wharf)
      const before = seen.length
      const reply = await get(`${wharf.url}/get?port=${plainPort}`)
      assert.match(reply.body, /^error ERR_[A-Z_]+: egress denied by deny default:local/)
      assert.match(
        (await get(`${wharf.url}/https?port=${securePort}`)).body,
        /egress denied by deny default:local/
      )
      assert.equal(seen.length, before, 'no request reached the servers')
    })
  }
})
