// The egress policy holds through the paths of several Workers: a service binding's connect()
// address only names what the callee sees, and the callee's own connect(), node:net and fetch()
// meet the policy like any Worker's; an Outbound Worker's pass-through fetch() does too, and the
// user Worker's connect() fails. A counting server on a denied address sees no connection.
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, startWharf } from './helpers.js'

const DENIED = 'proxy request failed, cannot connect to the specified address'
const root = mkdtempSync(join(tmpdir(), 'wharf-services-egress-'))

function project(name: string, files: string[], config: Record<string, unknown>): string {
  const home = join(root, name)
  mkdirSync(home, { recursive: true })
  for (const f of files) copyFileSync(join(FIXTURES, 'services-egress', f), join(home, f))
  const file = join(home, 'wrangler.json')
  writeFileSync(file, JSON.stringify({ name, compatibility_date: '2026-11-01', ...config }))
  return file
}

describe('egress through service bindings and Outbound Workers', () => {
  let counting: net.Server
  let connections = 0
  let target = ''
  before(async () => {
    counting = net.createServer((s) => {
      connections++
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nreached')
    })
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve))
    target = `127.0.0.1:${(counting.address() as AddressInfo).port}`
  })
  after(() => {
    counting.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('a service binding does not carry a Worker past the policy', async () => {
    const front = project('front', ['front.js'], {
      main: 'front.js',
      services: [{ binding: 'BACK', service: 'back' }],
    })
    const back = project('back', ['back.js'], {
      main: 'back.js',
      compatibility_flags: ['nodejs_compat'],
    })
    const wharf = await startWharf(root, ['-c', front, '-c', back, '--no-watch'], 30_000)
    try {
      const r = await get(`${wharf.url}/?target=${target}`)
      assert.equal(r.status, 200, r.body)
      const answer = JSON.parse(r.body) as Record<string, { ok?: string; error?: string }>
      const via = answer.viaBinding?.ok ?? ''
      assert.match(via, new RegExp(`^callee saw ${target.replaceAll('.', '\\.')}; `), r.body)
      // workerd's words for a denied address, from connect() and from node:net alike.
      assert.match(via, new RegExp(`; connect: ${DENIED}; node:net: ${DENIED}$`), r.body)
      assert.equal(answer.direct?.error, DENIED, r.body)
      assert.doesNotMatch(answer.backFetch?.ok ?? '', /fetch: 200/, r.body)
      assert.equal(connections, 0, `the counting server was reached: ${r.body}`)
    } finally {
      await wharf.stop()
    }
  })

  it("an Outbound Worker's pass-through fetch() meets the policy, and connect() fails", async () => {
    const user = project('user', ['user.js', 'passthrough.js'], {
      main: 'user.js',
      wharf: { outbound: { main: 'passthrough.js' } },
    })
    const wharf = await startWharf(root, ['-c', user, '--no-watch'], 30_000)
    try {
      const r = await get(`${wharf.url}/?target=${target}`)
      assert.equal(r.status, 200, r.body)
      const answer = JSON.parse(r.body) as { fetch: string; connect: string }
      assert.doesNotMatch(answer.fetch, /^200 reached/, r.body)
      assert.equal(answer.connect, `error: ${DENIED}`, r.body)
      assert.equal(connections, 0, `the counting server was reached: ${r.body}`)
    } finally {
      await wharf.stop()
    }
  })
})
