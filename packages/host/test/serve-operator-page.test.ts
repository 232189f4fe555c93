// The operator page of wharf serve's admin listener, in headless Chromium (Debian's package):
// after its script ran, it shows the host ready, the live figures, and the recent egress denial
// with its rule and the Worker's name.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ALLOW_TEST_SERVERS, FIXTURES, echoServer, type TestServer } from './helpers.js'
import { request, startServed, type Served } from './serve-helpers.js'

const chromium = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim()
// CI installs it (scripts/install-system-deps.sh); elsewhere the test says why it did not run.
const skip = chromium === '' && process.env.CI !== 'true' ? 'chromium is not installed' : false

function dumpDom(url: string, timeoutMs = 60_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'wharf-chromium-'))
  const child = spawn(
    chromium || 'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=5000',
      '--dump-dom',
      url,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] }
  )
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`chromium did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('close', () => {
      clearTimeout(timer)
      rmSync(profile, { recursive: true, force: true })
      resolve(out)
    })
  })
}

describe('wharf serve: the operator page in headless Chromium', { skip }, () => {
  let served: Served
  let denied: TestServer

  before(async () => {
    denied = await echoServer()
    served = await startServed(join(FIXTURES, 'serve'), [
      '--processes',
      '1',
      '--admin-port',
      '0',
      '--allow',
      ALLOW_TEST_SERVERS,
      '--deny',
      `127.0.0.1:${denied.port}`,
    ])
  })
  after(async () => {
    await served.stop()
    await denied.close()
  })

  it('shows the live figures and the recent denial', async () => {
    assert.equal((await request(`${served.url}/`)).status, 200)
    const refused = await request(`${served.url}/echo?port=${denied.port}`)
    assert.equal(refused.status, 500)
    assert.equal(denied.conns.length, 0)
    const dom = await dumpDom(`${served.admin ?? ''}/`)
    assert.match(dom, /<p id="state" class="ok">ready<\/p>/)
    assert.match(dom, /<td>runtimes ready<\/td><td>1<\/td>/)
    assert.match(dom, /<td>200<\/td><td>\d+<\/td>/)
    assert.ok(dom.includes(`<td>deny cidr:127.0.0.1/32:${denied.port}</td>`), dom.slice(-2000))
    assert.ok(dom.includes(`<td>127.0.0.1:${denied.port}</td><td>serve-fixture</td>`))
  })
})
