// wrangler's conventions: static assets (html_handling, not_found_handling, run_worker_first,
// .assetsignore, ETag/304, env.ASSETS), --env, .dev.vars/.env precedence, and one line per
// ignored field. Bad input gives ERR_WHARF_CONFIG, never a crash.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FIXTURES, get, runWharf, startWharf, tempProject, type Wharf } from './helpers.js'
import { parseDotenv, readDevSecrets } from '../src/dotenv.js'

interface Full {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

function request(url: string, headers: Record<string, string> = {}): Promise<Full> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 10_000, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

describe('wharf dev: static assets', () => {
  let wharf: Wharf
  before(async () => {
    wharf = await startWharf(join(FIXTURES, 'assets'), ['--no-watch'])
  })
  after(async () => {
    await wharf.stop()
  })

  it('serves files with content types, pretty paths and 307 canonical redirects', async () => {
    const home = await request(`${wharf.url}/`)
    assert.equal(home.status, 200)
    assert.equal(home.headers['content-type'], 'text/html; charset=utf-8')
    assert.equal(home.body, '<h1>home</h1>\n')
    assert.equal((await request(`${wharf.url}/about`)).body, '<h1>about</h1>\n')
    const css = await request(`${wharf.url}/style.css`)
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8')
    for (const [from, to] of [
      ['/index.html', '/'],
      ['/about.html?x=1', '/about?x=1'],
      ['/docs', '/docs/'],
    ] as const) {
      const r = await request(`${wharf.url}${from}`)
      assert.equal(r.status, 307, from)
      assert.equal(r.headers.location, to)
    }
  })

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await request(`${wharf.url}/style.css`)
    const etag = first.headers.etag ?? ''
    assert.match(etag, /^"[0-9a-f]{32}"$/)
    const again = await request(`${wharf.url}/style.css`, { 'if-none-match': etag })
    assert.equal(again.status, 304)
    assert.equal(again.body, '')
  })

  it('unmatched paths and .assetsignore’d files reach the Worker; run_worker_first patterns', async () => {
    assert.equal((await get(`${wharf.url}/secret.txt`)).body, 'worker: /secret.txt')
    assert.equal((await get(`${wharf.url}/nope`)).body, 'worker: /nope')
    // /api/* runs the Worker first, except the negated /api/docs/*.
    assert.match((await get(`${wharf.url}/api/env`)).body, /"stage":"top"/)
    assert.equal((await get(`${wharf.url}/api/docs/readme.txt`)).body, 'api docs\n')
    // A negated path is the assets' alone, as Cloudflare's router has it: a miss is their 404
    // page (not_found_handling), never the Worker.
    const missing = await get(`${wharf.url}/api/docs/missing`)
    assert.deepEqual(missing, { status: 404, body: '<h1>not found</h1>\n' })
  })

  it('env.ASSETS.fetch() serves assets to the Worker', async () => {
    const css = readFileSync(join(FIXTURES, 'assets/public/style.css'), 'utf8')
    assert.equal((await get(`${wharf.url}/api/style`)).body, `200 text/css; charset=utf-8 ${css}`)
  })

  it('says once per field that observability, placement, upload_source_maps are ignored', () => {
    for (const field of ['observability', 'placement', 'upload_source_maps']) {
      const lines = wharf
        .output()
        .split('\n')
        .filter((l) => l.includes(`"${field}"`))
      assert.equal(lines.length, 1, field)
      assert.match(lines[0] ?? '', /has no effect in wharf dev: ignored/)
    }
  })

  it('.dev.vars secrets are bindings, shown hidden', async () => {
    assert.match((await get(`${wharf.url}/api/env`)).body, /"secret":"from .dev.vars"/)
    assert.match(wharf.output(), /env\.API_TOKEN \("\(hidden\)"\)/)
  })
})

describe('wharf dev: single-page applications', () => {
  let wharf: Wharf
  let project: { dir: string; remove: () => void }
  before(async () => {
    project = tempProject({
      'wrangler.json': JSON.stringify({
        main: 'worker.js',
        compatibility_date: '2025-10-08',
        assets: { directory: '.', not_found_handling: 'single-page-application' },
      }),
      'index.html': '<div id=app></div>',
      'worker.js': "export default { fetch: () => Response.json({ from: 'worker' }) }\n",
    })
    wharf = await startWharf(project.dir, ['--no-watch'])
  })
  after(async () => {
    await wharf.stop()
    project.remove()
  })

  it('navigations get index.html, other requests reach the Worker', async () => {
    const nav = await request(`${wharf.url}/books/1`, { 'sec-fetch-mode': 'navigate' })
    assert.equal(nav.status, 200)
    assert.equal(nav.body, '<div id=app></div>')
    assert.equal((await request(`${wharf.url}/api/books`)).body, '{"from":"worker"}')
  })
})

describe('wharf dev: --env and secrets', () => {
  it('--env staging takes the section’s vars and .dev.vars.staging', async () => {
    const wharf = await startWharf(join(FIXTURES, 'assets'), ['--no-watch', '--env', 'staging'])
    try {
      assert.deepEqual(JSON.parse((await get(`${wharf.url}/api/env`)).body), {
        stage: 'staging',
        onlyStaging: 'yes',
        secret: 'staging-token',
      })
    } finally {
      await wharf.stop()
    }
  })

  it('an unknown environment is a clear error naming the known ones', async () => {
    const { code, stderr } = await runWharf([
      'dev',
      join(FIXTURES, 'assets'),
      '--port',
      '0',
      '--env',
      'prod',
    ])
    assert.equal(code, 1)
    assert.match(
      stderr,
      /ERR_WHARF_CONFIG: .*--env prod: there is no \[env\.prod\] section \(environments: staging\)/
    )
  })

  it('an assets directory that does not exist is a clear error', async () => {
    const project = tempProject({
      'wrangler.json': '{ "main": "worker.js", "assets": { "directory": "./dist" } }',
      'worker.js': 'export default { fetch: () => new Response("x") }\n',
    })
    try {
      const { code, stderr } = await runWharf(['dev', project.dir, '--port', '0'])
      assert.equal(code, 1)
      assert.match(
        stderr,
        /field "assets\.directory" names a directory that does not exist: .*dist/
      )
    } finally {
      project.remove()
    }
  })

  it('.dev.vars wins over .env; without it .env, .env.<env>, .env.local apply in order', () => {
    const both = tempProject({ '.dev.vars': 'A=dev\n', '.env': 'A=env\nB=env\n' })
    const envs = tempProject({
      '.env': 'A=1\nB=1\nC=1\n',
      '.env.staging': 'B=2\n',
      '.env.local': 'C=3\n',
    })
    try {
      assert.deepEqual(readDevSecrets(both.dir).values, { A: 'dev' })
      assert.deepEqual(readDevSecrets(envs.dir, 'staging').values, { A: '1', B: '2', C: '3' })
      assert.deepEqual(readDevSecrets(envs.dir).values, { A: '1', B: '1', C: '3' })
    } finally {
      both.remove()
      envs.remove()
    }
  })

  it('parses dotenv syntax: export, quotes, comments, escapes', () => {
    assert.deepEqual(
      parseDotenv(
        '# c\nexport A=1\nB = "two\\nlines" \nC=\'x # y\'\nD=plain # note\nE=\n not a line\n'
      ),
      { A: '1', B: 'two\nlines', C: 'x # y', D: 'plain', E: '' }
    )
  })
})
