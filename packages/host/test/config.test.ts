// Bad configs and modules fail with clear errors naming the file and field; TOML, JSONC, --var
// and a class-based TypeScript Worker load; `wharf egress check` prints decision, address, rule.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { join } from 'node:path'
import { ROOT, get, runWharf, startWharf, tempProject } from './helpers.js'

const okWorker = 'export default { fetch: (req, env) => new Response(String(env.GREETING)) }\n'

describe('wharf dev: configuration errors', () => {
  const cases: { name: string; files: Record<string, string>; error: RegExp }[] = [
    {
      name: 'no config file',
      files: { 'worker.js': okWorker },
      error: /ERR_WHARF_CONFIG: .*no wrangler\.json, wrangler\.jsonc, wrangler\.toml found/,
    },
    {
      name: 'invalid JSONC (line and column)',
      files: {
        'wrangler.jsonc': '{\n  "main": "worker.js",\n  "vars": { "A": }\n}\n',
        'worker.js': okWorker,
      },
      error:
        /ERR_WHARF_CONFIG: .*wrangler\.jsonc: invalid JSON at line 3, column \d+: ValueExpected/,
    },
    {
      name: 'invalid TOML',
      files: { 'wrangler.toml': 'main = "worker.js"\nvars = [\n', 'worker.js': okWorker },
      error: /ERR_WHARF_CONFIG: .*wrangler\.toml: invalid TOML/,
    },
    {
      name: 'missing main',
      files: { 'wrangler.json': '{ "name": "x" }', 'worker.js': okWorker },
      error: /wrangler\.json: field "main" is required/,
    },
    {
      name: 'main names a missing file',
      files: { 'wrangler.json': '{ "main": "nope.js" }' },
      error: /wrangler\.json: field "main" names a file that does not exist: .*nope\.js/,
    },
    {
      name: 'a limit of the wrong type',
      files: {
        'wrangler.json':
          '{ "main": "worker.js", "wharf": { "limits": { "socketsPerRequest": "six" } } }',
        'worker.js': okWorker,
      },
      error:
        /field "wharf\.limits\.socketsPerRequest" must be an integer from 1 to 1000 \(got "six"\)/,
    },
    {
      name: 'an unknown wharf field',
      files: {
        'wrangler.json': '{ "main": "worker.js", "wharf": { "egres": {} } }',
        'worker.js': okWorker,
      },
      error: /field "wharf\.egres" is not a known field/,
    },
    {
      name: 'egress rules that are not strings',
      files: {
        'wrangler.json': '{ "main": "worker.js", "wharf": { "egress": { "allow": [42] } } }',
        'worker.js': okWorker,
      },
      error: /field "wharf\.egress\.allow\[0\]" must be a non-empty string/,
    },
    {
      name: 'a hyperdrive binding without a connection string whose embedded database is off',
      files: {
        'wrangler.json':
          '{ "main": "worker.js", "hyperdrive": [{ "binding": "DB", "id": "x" }], "wharf": { "hyperdrive": { "DB": { "embedded": false } } } }',
        'worker.js': okWorker,
      },
      error:
        /hyperdrive binding "DB" has no local connection string: set CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB/,
    },
    {
      name: 'an embedded database whose data_dir leaves the project',
      files: {
        'wrangler.json':
          '{ "main": "worker.js", "hyperdrive": [{ "binding": "DB", "id": "x" }], "wharf": { "hyperdrive": { "DB": { "embedded": { "data_dir": "../elsewhere" } } } } }',
        'worker.js': okWorker,
      },
      error:
        /field "wharf\.hyperdrive\.DB\.embedded\.data_dir" must name a path inside the project directory/,
    },
    {
      name: 'a module without a fetch handler',
      files: {
        'wrangler.json': '{ "main": "worker.js" }',
        'worker.js': 'export default { hello() {} }\n',
      },
      error:
        /ERR_WHARF_WORKER_LOAD: .*\n.*the Worker module has a default export without a fetch\(\) handler/,
    },
    {
      name: 'a module that fails to evaluate',
      files: {
        'wrangler.json': '{ "main": "worker.js" }',
        'worker.js': 'throw new Error("top-level oops")\n',
      },
      error: /ERR_WHARF_WORKER_LOAD: the Worker module failed to load:\nError: top-level oops/,
    },
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const project = tempProject(c.files)
      try {
        const result = await runWharf(['dev', project.dir, '--port', '0', '--no-watch'])
        assert.equal(result.code, 1, result.stdout + result.stderr)
        assert.match(result.stderr, c.error)
        assert.doesNotMatch(result.stdout, /Ready on/)
      } finally {
        project.remove()
      }
    })
  }

  it('rejects a bad --var and an unknown command', async () => {
    const bad = await runWharf(['dev', '.', '--var', 'NOCOLON'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--var expects KEY:VALUE/)
    const unknown = await runWharf(['deploy'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /unknown command "deploy"/)
  })
})

describe('wharf dev: config formats and Worker forms', () => {
  const projects: { remove: () => void }[] = []
  after(() => {
    for (const p of projects) p.remove()
  })

  it('reads wrangler.toml with vars; --var overrides', async () => {
    const project = tempProject({
      'wrangler.toml': 'name = "t"\nmain = "worker.js"\n[vars]\nGREETING = "from toml"\n',
      'worker.js': okWorker,
    })
    projects.push(project)
    const wharf = await startWharf(project.dir, ['--no-watch'])
    try {
      assert.equal((await get(wharf.url)).body, 'from toml')
      assert.match(wharf.output(), /env\.GREETING \("from toml"\) +Environment Variable +local/)
    } finally {
      await wharf.stop()
    }
    const overridden = await startWharf(project.dir, ['--no-watch', '--var', 'GREETING:from:flag'])
    try {
      assert.equal((await get(overridden.url)).body, 'from:flag')
      assert.match(overridden.output(), /env\.GREETING \("\(hidden\)"\)/)
      assert.doesNotMatch(overridden.output(), /from:flag/)
    } finally {
      await overridden.stop()
    }
  })

  it('runs a TypeScript WorkerEntrypoint class from cloudflare:workers (JSONC config)', async () => {
    const project = tempProject({
      'package.json': '{ "type": "module" }',
      'wrangler.jsonc': '// comment\n{ "main": "worker.ts", "vars": { "N": 41, }, }\n',
      'worker.ts': [
        "import { WorkerEntrypoint, env } from 'cloudflare:workers'",
        'interface Env { N: number }',
        'export default class extends WorkerEntrypoint<Env> {',
        '  fetch(request: Request): Response {',
        '    const same = env === (this.env as unknown)',
        '    return new Response(`${this.env.N + 1} ${same} ${new URL(request.url).pathname}`)',
        '  }',
        '}',
        '',
      ].join('\n'),
    })
    projects.push(project)
    const wharf = await startWharf(project.dir, ['--no-watch'])
    try {
      assert.equal((await get(`${wharf.url}/x`)).body, '42 true /x')
    } finally {
      await wharf.stop()
    }
  })
})

describe('examples/hello-sockets', () => {
  it('shows a socket round trip through the example echo service', async () => {
    const wharf = await startWharf(join(ROOT, 'examples/hello-sockets'), ['--no-watch'])
    try {
      const reply = await get(`${wharf.url}/?say=ahoy`)
      assert.equal(reply.status, 200, reply.body)
      const body = JSON.parse(reply.body) as { sent: string; echoed: string; remoteAddress: string }
      assert.equal(body.sent, 'ahoy')
      assert.equal(body.echoed, 'ahoy')
      assert.match(body.remoteAddress, /^127\.0\.0\.1:\d+$/)
    } finally {
      await wharf.stop()
    }
  })
})

describe('wharf egress check', () => {
  it('denies loopback by default and names the rule', async () => {
    const r = await runWharf(['egress', 'check', '127.0.0.1:5432'])
    assert.equal(r.code, 2, r.stdout + r.stderr)
    assert.match(r.stdout, /^decision: denied$/m)
    assert.match(r.stdout, /^address: +127\.0\.0\.1$/m)
    assert.match(r.stdout, /^rule: +deny \S+/m)
  })

  it('allows what --allow allows, with the address it would connect to', async () => {
    const r = await runWharf(['egress', 'check', '127.0.0.1:5432', '--allow', '127.0.0.1/32'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /^decision: allowed$/m)
    assert.match(r.stdout, /^address: +127\.0\.0\.1$/m)
    assert.match(r.stdout, /^rule: +allow \S+/m)
  })

  it('reads the policy from --config, and refuses port 25 with Cloudflare’s message', async () => {
    const project = tempProject({
      'wrangler.json':
        '{ "main": "worker.js", "wharf": { "egress": { "allow": ["127.0.0.1/32"] } } }',
      'worker.js': okWorker,
    })
    try {
      const allowed = await runWharf([
        'egress',
        'check',
        '127.0.0.1:6379',
        '--config',
        `${project.dir}/wrangler.json`,
      ])
      assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr)
      const port25 = await runWharf([
        'egress',
        'check',
        '127.0.0.1:25',
        '--config',
        `${project.dir}/wrangler.json`,
      ])
      assert.equal(port25.code, 2)
      assert.match(port25.stdout, /^worker sees: Connections to port 25 are prohibited$/m)
    } finally {
      project.remove()
    }
  })

  it('rejects a malformed HOST:PORT', async () => {
    const r = await runWharf(['egress', 'check', '::1:80'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /expects HOST:PORT, with IPv6 in brackets/)
  })

  it('refuses a bad rule from a flag or the config before starting, naming it', async () => {
    const flag = await runWharf(['egress', 'check', '8.8.8.8:443', '--deny', '10.0.0.1/8'])
    assert.equal(flag.code, 1)
    assert.match(flag.stderr, /^✘ ERROR ERR_EGRESS_RULE: invalid egress rule "10\.0\.0\.1\/8"/m)
    const dev = await runWharf(['dev', '.', '--port', '0', '--allow', '127.1'])
    assert.equal(dev.code, 1)
    assert.match(dev.stderr, /ERR_WHARF_USAGE: --allow: invalid egress rule "127\.1"/)
    const project = tempProject({
      'wrangler.json': '{ "main": "worker.js", "wharf": { "egress": { "deny": ["port:0"] } } }',
      'worker.js': okWorker,
    })
    try {
      const r = await runWharf(['dev', project.dir, '--port', '0', '--no-watch'])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /ERR_WHARF_CONFIG: .*wharf\.egress\.deny.*"port:0"/)
    } finally {
      project.remove()
    }
  })

  it('a name resolves once and is checked: localhost is refused unless its address is allowed', async () => {
    const denied = await runWharf(['egress', 'check', 'localhost:5432'])
    assert.equal(denied.code, 2)
    assert.match(denied.stdout, /^rule: +deny default:local$/m)
    const allowed = await runWharf([
      'egress',
      'check',
      'localhost:5432',
      '--allow',
      '127.0.0.1:5432',
    ])
    assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr)
    assert.match(allowed.stdout, /^address: +127\.0\.0\.1$/m)
  })
})
