// wharf serve's bad input fails at once with ERR_WHARF_* naming the flag or the field, and every
// host listener (wharf dev, wharf serve, the admin listener) that cannot bind exits non-zero
// quickly instead of hanging.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import net from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BIN, FIXTURES, ROOT, runWharf, tempProject } from './helpers.js'

const FIXTURE = join(FIXTURES, 'serve')
const WORKER = 'export default { fetch() { return new Response("ok") } }\n'

describe('wharf serve: bad flags and config', () => {
  const cases: [string, string[], RegExp][] = [
    [
      '--processes 0',
      ['--processes', '0'],
      /ERR_WHARF_USAGE: --processes must be "auto" or an integer/,
    ],
    ['--processes x', ['--processes', 'many'], /ERR_WHARF_USAGE: --processes/],
    ['--log-format', ['--log-format', 'xml'], /ERR_WHARF_USAGE: --log-format must be text or json/],
    ['--port', ['--port', '70000'], /ERR_WHARF_USAGE: --port expects 0-65535/],
    ['--admin-port', ['--admin-port', 'x'], /ERR_WHARF_USAGE: --admin-port expects 0-65535/],
    ['--isolation', ['--isolation', 'vm'], /ERR_WHARF_USAGE: --isolation must be/],
    ['--sandbox', ['--sandbox', 'on'], /ERR_WHARF_USAGE: --sandbox must be auto, strict or off/],
    ['--allow', ['--allow', 'not a rule'], /ERR_(WHARF_USAGE|EGRESS_RULE)/],
    [
      '--env missing',
      ['--env', 'staging'],
      /ERR_WHARF_CONFIG: .*field "env\.staging" is not defined/,
    ],
    ['unknown flag', ['--bogus'], /ERR_WHARF_USAGE/],
  ]
  for (const command of [['dev'], ['serve'], ['egress', 'check'], []]) {
    it(`wharf ${[...command, '--help'].join(' ')} prints the usage and exits 0`, async () => {
      const { code, stdout } = await runWharf([...command, '--help'])
      assert.equal(code, 0)
      assert.match(stdout, /^Usage:\n {2}wharf dev \[dir/)
      assert.match(stdout, /wharf serve \[dir\]/)
    })
  }
  for (const [name, args, pattern] of cases) {
    it(`refuses ${name}`, async () => {
      const { code, stderr } = await runWharf(['serve', FIXTURE, ...args])
      assert.equal(code, 1)
      assert.match(stderr, pattern)
    })
  }

  const configs: [string, unknown, RegExp][] = [
    [
      'limits.cpu_ms',
      { limits: { cpu_ms: 'fast' } },
      /field "limits\.cpu_ms" must be an integer from 1 to 300000/,
    ],
    ['limits.subrequests', { limits: { subrequests: 0 } }, /field "limits\.subrequests"/],
    [
      'wharf.serve.memory_mb',
      { wharf: { serve: { memory_mb: 1 } } },
      /field "wharf\.serve\.memory_mb"/,
    ],
    [
      'wharf.serve.bogus',
      { wharf: { serve: { bogus: 1 } } },
      /field "wharf\.serve\.bogus" is not a known field/,
    ],
    [
      'wharf.serve.processes',
      { wharf: { serve: { processes: 0 } } },
      /field "wharf\.serve\.processes"/,
    ],
    [
      'wharf.serve.shared_sockets.redis',
      { wharf: { serve: { shared_sockets: { redis: 'http://x', max_open: 5 } } } },
      /field "wharf\.serve\.shared_sockets\.redis" must be a redis:\/\/ URL/,
    ],
    [
      'wharf.serve.shared_sockets.max_open',
      { wharf: { serve: { shared_sockets: { redis: 'redis://127.0.0.1:1' } } } },
      /field "wharf\.serve\.shared_sockets\.max_open" is required/,
    ],
    [
      'wharf.serve.shared_sockets.on_unavailable',
      {
        wharf: {
          serve: {
            shared_sockets: { redis: 'redis://127.0.0.1:1', max_open: 1, on_unavailable: 'maybe' },
          },
        },
      },
      /field "wharf\.serve\.shared_sockets\.on_unavailable" must be "allow" or "refuse"/,
    ],
    [
      'wharf.serve.shared_sockets.redis database',
      { wharf: { serve: { shared_sockets: { redis: 'redis://127.0.0.1:1/x', max_open: 1 } } } },
      /field "wharf\.serve\.shared_sockets\.redis" is not usable: bad redis database number in redis:\/\/127\.0\.0\.1:1\/x/,
    ],
    [
      'wharf.serve.shared_sockets.bogus',
      { wharf: { serve: { shared_sockets: { redis: 'redis://h', max_open: 1, bogus: 1 } } } },
      /field "wharf\.serve\.shared_sockets\.bogus" is not a known field/,
    ],
    [
      'wharf.hyperdrive.DB.cache_store.redis',
      {
        hyperdrive: [{ binding: 'DB', id: 'db' }],
        wharf: { hyperdrive: { DB: { cache_store: { redis: 'http://127.0.0.1:6379' } } } },
      },
      /field "wharf\.hyperdrive\.DB\.cache_store\.redis" must be a redis:\/\/ URL/,
    ],
    [
      'wharf.hyperdrive.DB.cache_store (no redis)',
      {
        hyperdrive: [{ binding: 'DB', id: 'db' }],
        wharf: { hyperdrive: { DB: { cache_store: {} } } },
      },
      /field "wharf\.hyperdrive\.DB\.cache_store\.redis" is required/,
    ],
    [
      'wharf.hyperdrive.DB.wal_invalidation.publication',
      {
        hyperdrive: [{ binding: 'DB', id: 'db' }],
        wharf: { hyperdrive: { DB: { wal_invalidation: { publication: 'x; DROP TABLE y' } } } },
      },
      /field "wharf\.hyperdrive\.DB\.wal_invalidation\.publication" must be a plain PostgreSQL identifier/,
    ],
    [
      'wharf.hyperdrive.DB.wal_invalidation.max_lag_ms',
      {
        hyperdrive: [{ binding: 'DB', id: 'db' }],
        wharf: { hyperdrive: { DB: { wal_invalidation: { publication: 'p', max_lag_ms: 1 } } } },
      },
      /field "wharf\.hyperdrive\.DB\.wal_invalidation\.max_lag_ms"/,
    ],
  ]
  for (const [name, extra, pattern] of configs) {
    it(`refuses a bad ${name}`, async () => {
      const project = tempProject({
        'wrangler.json': JSON.stringify({ name: 'bad', main: 'worker.js', ...(extra as object) }),
        'worker.js': WORKER,
      })
      try {
        const { code, stderr } = await runWharf(['serve', project.dir])
        assert.equal(code, 1)
        assert.match(stderr, /ERR_WHARF_CONFIG/)
        assert.match(stderr, pattern)
      } finally {
        project.remove()
      }
    })
  }

  it('--sandbox strict where bubblewrap is missing refuses to start with ERR_WHARF_SANDBOX', () => {
    // A PATH without bwrap: a machine that cannot sandbox.
    const result = spawnSync(
      process.execPath,
      [BIN, 'serve', FIXTURE, '--port', '0', '--sandbox', 'strict'],
      { cwd: ROOT, env: { PATH: FIXTURES }, encoding: 'utf8', timeout: 30_000 }
    )
    assert.equal(result.status, 1, result.stderr)
    assert.match(result.stderr, /ERR_WHARF_SANDBOX: wharf\.sandbox is "strict" but bwrap/)
    assert.doesNotMatch(result.stdout + result.stderr, /serving /)
  })

  it('refuses a Worker whose global scope fails to load, and one that spins at start-up', async () => {
    const broken = tempProject({
      'wrangler.json': JSON.stringify({ name: 'b', main: 'worker.js' }),
      'worker.js': 'this is not javascript {\n',
    })
    const spinning = tempProject({
      'wrangler.json': JSON.stringify({
        name: 's',
        main: 'worker.js',
        wharf: { serve: { startup_ms: 300 } },
      }),
      'worker.js': 'for (;;) {}\n' + WORKER,
    })
    try {
      const load = await runWharf(['serve', broken.dir, '--port', '0', '--processes', '1'], 30_000)
      assert.equal(load.code, 1)
      assert.match(load.stderr, /ERR_WHARF_(BUILD|WORKER_LOAD)/)
      const started = performance.now()
      const spin = await runWharf(
        ['serve', spinning.dir, '--port', '0', '--processes', '1'],
        120_000
      )
      assert.equal(spin.code, 1)
      assert.match(spin.stderr, /ERR_WHARF_STARTUP: Script startup exceeded CPU time limit/)
      assert.ok(performance.now() - started < 120_000, 'refused, though the loop never ends')
    } finally {
      broken.remove()
      spinning.remove()
    }
  })
})

describe('host listeners fail fast', () => {
  let busy: net.Server
  let port = 0
  before(async () => {
    busy = net.createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    port = (busy.address() as net.AddressInfo).port
  })
  after(async () => {
    await new Promise<void>((resolve) => busy.close(() => resolve()))
  })

  const cases = (): [string, string[]][] => [
    ['wharf dev, address in use', ['dev', FIXTURE, '--port', String(port), '--no-watch']],
    ['wharf serve, address in use', ['serve', FIXTURE, '--port', String(port)]],
    [
      'the admin listener, address in use',
      ['serve', FIXTURE, '--port', '0', '--admin-port', String(port)],
    ],
    ['wharf serve, a bad address', ['serve', FIXTURE, '--port', '0', '--ip', '256.1.1.1']],
    [
      'wharf dev, a bad address',
      ['dev', FIXTURE, '--port', '0', '--ip', '256.1.1.1', '--no-watch'],
    ],
  ]
  for (const name of cases().map((c) => c[0])) {
    it(`${name}: exits 1 with ERR_WHARF_LISTEN`, async () => {
      const args = cases().find((c) => c[0] === name)?.[1] ?? []
      const started = performance.now()
      const { code, stderr } = await runWharf(args, 15_000)
      assert.equal(code, 1, stderr)
      assert.match(stderr, /ERR_WHARF_LISTEN: .*cannot listen on/)
      assert.ok(performance.now() - started < 15_000)
    })
  }
})
