// Deploys under load: 50 concurrent clients keep requesting while SIGHUP deploys a new version
// and then a broken one. No request is lost (every answer is the old or the new version's), the
// broken version is refused while the deployed one keeps serving, and SIGTERM drains in-flight
// requests and exits 0.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { until } from './helpers.js'
import { fixtureCopy, request, startServed, type Answer, type Served } from './serve-helpers.js'

describe('wharf serve: deploys under load', () => {
  let served: Served
  let project: { dir: string; remove: () => void }

  before(async () => {
    project = fixtureCopy()
    served = await startServed(project.dir, ['--processes', '2', '--log-format', 'json'])
  })
  after(async () => {
    await served.stop()
    project.remove()
  })

  it('loses no request across a deploy and a refused deploy', async () => {
    const answers: Answer[] = []
    // Requests started after the deploy finished (its log line seen) must get the new version.
    const afterDeploy: Answer[] = []
    let deployed = false
    let running = true
    const client = async (): Promise<void> => {
      while (running) {
        const late = deployed
        const answer = await request(`${served.url}/sleep?ms=20`, { timeoutMs: 20_000 })
        answers.push(answer)
        if (late) afterDeploy.push(answer)
      }
    }
    const deployTwice = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, 1000))
      const config = join(project.dir, 'wrangler.json')
      const original = readFileSync(config, 'utf8')
      writeFileSync(
        config,
        original.replace(
          '"name": "serve-fixture",',
          '"name": "serve-fixture", "vars": { "VERSION": "v2" },'
        )
      )
      served.child.kill('SIGHUP')
      await served.waitFor(/"event":"deployed"/, 90_000)
      deployed = true
      await new Promise((r) => setTimeout(r, 1000))
      const worker = join(project.dir, 'worker.js')
      writeFileSync(worker, readFileSync(worker, 'utf8') + '\nthis is not javascript {\n')
      served.child.kill('SIGHUP')
      await served.waitFor(/"event":"deploy_refused"/, 90_000)
      await new Promise((r) => setTimeout(r, 500))
    }
    const clients = Array.from({ length: 50 }, client)
    try {
      await deployTwice()
    } finally {
      running = false
      await Promise.all(clients)
    }

    const wrong = answers.filter((a) => a.status !== 200 || !/^slept v[12]$/.test(a.body))
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${answers.length} requests failed`)
    assert.ok(answers.length > 200, `only ${answers.length} requests ran`)
    assert.ok(afterDeploy.length >= 50, `${afterDeploy.length} requests after the deploy`)
    assert.deepEqual(
      afterDeploy.filter((a) => a.body !== 'slept v2').slice(0, 3),
      [],
      'the new version serves'
    )
    assert.match(served.output(), /ERR_WHARF_(BUILD|WORKER_LOAD)/)
    // JSON logs: one line per request, with its id (the last ones may still be on their way).
    const logged = (): string[] =>
      served
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"request"'))
    await until(() => logged().length >= answers.length, 5000).catch(() => undefined)
    const lines = logged().map((l) => JSON.parse(l) as { id: string; status: number; path: string })
    assert.ok(
      lines.length >= answers.length,
      `${lines.length} request log lines for ${answers.length} answers; statuses ${JSON.stringify([...new Set(lines.map((l) => l.status))])}`
    )
    assert.equal(new Set(lines.map((l) => l.id)).size, lines.length, 'request ids are unique')
  })

  it('drains in-flight requests on SIGTERM and exits 0', async () => {
    const inFlight = Array.from({ length: 20 }, () => request(`${served.url}/sleep?ms=1000`))
    await new Promise((r) => setTimeout(r, 300))
    served.child.kill('SIGTERM')
    const answers = await Promise.all(inFlight)
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
      'every in-flight request finished'
    )
    assert.equal(await served.exited, 0)
  })
})
