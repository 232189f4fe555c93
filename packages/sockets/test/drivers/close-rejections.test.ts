// The register entry logs (instead of dying on) the one rejection Workers drivers leave unhandled
// after close(): a pending read's "This socket has been closed." (workerd only logs it). Every
// other unhandled rejection must still end the process as Node's default does, and the app's own
// listeners and --unhandled-rejections modes must keep working.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { echoServer, type TestServer } from '../../../../test-support/servers.js'
import { describeRun, ensureBuilt, root, runApp } from './run-app.js'

const APP = 'packages/sockets/test/drivers/fixtures/unhandled.mjs'

let server: TestServer
let nodes: string[] = [process.execPath]

before(async () => {
  ensureBuilt()
  const extra = (await import(join(root, 'scripts', 'extra-nodes.mjs'))) as {
    ensureExtraNodes: () => string[]
  }
  nodes = [process.execPath, ...extra.ensureExtraNodes()]
  server = await echoServer()
})
after(() => server.close())

test('a pending read rejected by close() and left unhandled does not end the process', async () => {
  for (const node of nodes) {
    const r = await runApp(APP, ['socket-closed', server.address], { node })
    assert.equal(r.code, 0, describeRun(r))
    assert.equal(r.stdout.trim(), 'alive', describeRun(r))
    assert.equal(r.stderr, '', describeRun(r))
  }
})

test('NODE_DEBUG=wharf-sockets shows the rejection that was let through', async () => {
  const r = await runApp(APP, ['socket-closed', server.address], {
    env: { NODE_DEBUG: 'wharf-sockets' },
  })
  assert.equal(r.code, 0, describeRun(r))
  assert.match(r.stderr, /unhandled rejection after close\(\).*This socket has been closed\./)
})

test('any other unhandled rejection still ends the process with exit code 1', async () => {
  for (const node of nodes) {
    const bug = await runApp(APP, ['error'], { node })
    assert.equal(bug.code, 1, describeRun(bug))
    assert.match(bug.stderr, /Error: an application bug/)
    assert.doesNotMatch(bug.stdout, /alive/)
  }
  const text = await runApp(APP, ['string'])
  assert.equal(text.code, 1, describeRun(text))
  assert.match(text.stderr, /ERR_UNHANDLED_REJECTION/)
  assert.match(text.stderr, /"a string reason"/)
  // Only workerd's TypeError counts, not any error that happens to share its message.
  const lookalike = await runApp(APP, ['same-message-not-type'])
  assert.equal(lookalike.code, 1, describeRun(lookalike))
})

test("the application's own unhandledRejection listener and --unhandled-rejections still rule", async () => {
  const own = await runApp(APP, ['app-listener'])
  assert.equal(own.code, 0, describeRun(own))
  assert.equal(own.stdout, 'app saw Error: handled by the app\nalive\n', describeRun(own))
  const warn = await runApp(APP, ['error'], { nodeFlags: ['--unhandled-rejections=warn'] })
  assert.equal(warn.code, 0, describeRun(warn))
  assert.match(warn.stdout, /alive/)
  assert.match(warn.stderr, /an application bug/)
  const strict = await runApp(APP, ['socket-closed', server.address], {
    nodeFlags: ['--unhandled-rejections=strict'],
  })
  assert.equal(strict.code, 1, describeRun(strict))
})
