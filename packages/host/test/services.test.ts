// Several Workers in one `wharf dev` and in one `wharf serve`, end to end over real sockets: an
// Outbound Worker that rewrites requests to a real origin and refuses a host, RPC's error, both
// sides' socket limits, the config checks, inbound TCP (wharf.tcp) with 200 concurrent plain TCP
// clients, env.X.fetch() holding one of the six socket slots, and (serve) a service runtime
// stopped by its CPU limit and replaced, and a deploy that reaches the bound Worker.
import assert from 'node:assert/strict'
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { echoServer } from '../../../test-support/servers.js'
import { ALLOW_TEST_SERVERS, FIXTURES, ROOT, get, runWharf, startWharf } from './helpers.js'
import { startServed, treeFds } from './serve-helpers.js'

const DATE = '2026-11-01'
const root = mkdtempSync(join(tmpdir(), 'wharf-services-e2e-'))
after(() => rmSync(root, { recursive: true, force: true }))

/** A Worker's directory with its wrangler.json; `files` are copied from fixtures/services. */
function project(name: string, files: string[], config: Record<string, unknown>): string {
  const home = join(root, name)
  mkdirSync(home, { recursive: true })
  for (const f of files) copyFileSync(join(FIXTURES, 'services', f), join(home, f))
  const file = join(home, 'wrangler.json')
  writeFileSync(file, JSON.stringify({ name, compatibility_date: DATE, ...config }))
  return file
}

const configs = (files: string[]): string[] => files.flatMap((f) => ['-c', f])

type Mode = 'dev' | 'serve'
const MODES: readonly Mode[] = ['dev', 'serve']

interface Host {
  readonly url: string
  readonly pid: number
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  output(): string
  stop(): Promise<unknown>
}

/** The same Workers under `wharf dev` or `wharf serve` (one runtime process per Worker). */
async function startHost(mode: Mode, files: string[], processes = 1): Promise<Host> {
  if (mode === 'serve') {
    return startServed(root, [...configs(files), '--processes', String(processes)], 60_000)
  }
  return startWharf(root, [...configs(files), '--no-watch'], 30_000)
}

for (const mode of MODES)
  describe(`wharf ${mode}: an Outbound Worker in front of a real origin`, () => {
    it('rewrites the user Worker’s fetch() to the origin, refuses a host, and connect() fails', async () => {
      const seen: { path: string; header: string | undefined; body: string }[] = []
      const origin = http.createServer((req, res) => {
        let body = ''
        req.on('data', (c: Buffer) => (body += c.toString()))
        req.on('end', () => {
          seen.push({ path: req.url ?? '', header: req.headers['x-rewritten-by'] as string, body })
          res.end(`hello from the origin (${req.url})`)
        })
      })
      await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
      const port = (origin.address() as AddressInfo).port
      // The main form: the Outbound Worker is a module of the user's project, params its env.
      const user = project('user-main', ['user.js', 'outbound.js'], {
        main: 'user.js',
        wharf: {
          outbound: {
            main: 'outbound.js',
            params: { PARAM: 'p2', ORIGIN: `http://127.0.0.1:${port}` },
          },
          egress: { allow: [ALLOW_TEST_SERVERS] },
        },
      })
      const wharf = await startHost(mode, [user])
      try {
        const fetched = JSON.parse((await get(`${wharf.url}/fetch`)).body) as {
          status: number
          body: string
        }
        assert.equal(fetched.status, 200)
        assert.equal(fetched.body, 'origin said: hello from the origin (/v1/items)')
        assert.equal(seen.length, 1)
        assert.equal(seen[0]?.header, 'outbound')
        assert.deepEqual(JSON.parse(seen[0]?.body ?? ''), {
          url: 'https://api.example.com/v1/items?x=1',
          method: 'PUT',
          user: 'u1',
          body: 'payload',
          param: 'p2',
        })
        const refused = JSON.parse((await get(`${wharf.url}/refused`)).body) as { status: number }
        assert.equal(refused.status, 403)
        assert.equal(seen.length, 1, 'a refused request never reaches the origin')
        const connected = JSON.parse((await get(`${wharf.url}/connect`)).body) as {
          opened: { error: string }
        }
        assert.equal(
          connected.opened.error,
          'Error: proxy request failed, cannot connect to the specified address'
        )
      } finally {
        await wharf.stop()
        origin.close()
      }
    })
  })

for (const mode of MODES)
  describe(`wharf ${mode}: service bindings: RPC and socket limits`, () => {
    it('gives a clear error for an RPC method, and counts sockets on both sides', async () => {
      const echo = await echoServer()
      const front = project('front', ['limited.js'], {
        main: 'limited.js',
        services: [{ binding: 'BACKEND', service: 'back' }],
        wharf: { limits: { socketsPerRequest: 2, queueTimeoutMs: 500 } },
      })
      const back = project('back', ['limited.js'], {
        main: 'limited.js',
        vars: { ECHO: `127.0.0.1:${echo.port}` },
        wharf: {
          limits: { socketsPerRequest: 1, queueTimeoutMs: 300 },
          egress: { allow: [ALLOW_TEST_SERVERS] },
        },
      })
      const wharf = await startHost(mode, [front, back])
      try {
        assert.equal(
          (await get(`${wharf.url}/rpc`)).body,
          'TypeError: env.BACKEND.getUser(): RPC to another Worker is not supported by wharf; a service binding offers fetch() and connect() only (ERR_WHARF_RPC_UNSUPPORTED)'
        )
        // Caller: two sockets open, the third waits for a slot until the queue timeout.
        const caller = JSON.parse((await get(`${wharf.url}/?n=3`)).body) as string[]
        assert.deepEqual(caller.slice(0, 2), ['opened', 'opened'])
        assert.match(caller[2] ?? '', /waited 500 ms in the queue .*at most 2 open sockets/)
        assert.deepEqual(
          JSON.parse((await get(`${wharf.url}/?n=2`)).body),
          ['opened', 'opened'],
          'two are within the limit'
        )
        // Callee: the handed-in socket holds its request's only slot, so its own connect() waits.
        assert.match(
          (await get(`${wharf.url}/inner`)).body,
          /waited 300 ms in the queue .*at most 1 open sockets/
        )
        assert.equal(echo.connections, 0)
      } finally {
        await wharf.stop()
        await echo.close()
      }
    })

    it('refuses a binding to a Worker the host does not run, naming it', async () => {
      const lonely = project('lonely', ['limited.js'], {
        main: 'limited.js',
        services: [{ binding: 'BACKEND', service: 'nowhere' }],
      })
      const result = await runWharf(
        mode === 'dev'
          ? ['dev', ...configs([lonely]), '--port', '0', '--no-watch']
          : ['serve', ...configs([lonely]), '--port', '0']
      )
      assert.equal(result.code, 1)
      assert.match(
        result.stderr + result.stdout,
        /ERR_WHARF_CONFIG: .*binds BACKEND to "nowhere", which is not a Worker of this host/
      )
    })
  })

for (const mode of MODES)
  describe(`wharf ${mode}: limits.subrequests`, () => {
    it('counts env.X.fetch() and env.X.connect() as subrequests, once each, as fetch() and connect()', async () => {
      const echo = await echoServer()
      const origin = http.createServer((_req, res) => res.end('origin'))
      await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
      const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`
      const allow = { egress: { allow: [ALLOW_TEST_SERVERS] } }
      const front = project('sub-front', ['subrequests.js'], {
        main: 'subrequests.js',
        services: [{ binding: 'BACKEND', service: 'sub-back' }],
        vars: { ORIGIN: originUrl, ECHO: `127.0.0.1:${echo.port}` },
        limits: { subrequests: 4 },
        wharf: allow,
      })
      // One subrequest each: its own connect() works, so the handed-in socket did not count.
      const back = project('sub-back', ['subrequests.js'], {
        main: 'subrequests.js',
        vars: { ECHO: `127.0.0.1:${echo.port}` },
        limits: { subrequests: 1 },
        wharf: allow,
      })
      const wharf = await startHost(mode, [front, back])
      const calls = async (list: string[]): Promise<string[]> =>
        JSON.parse((await get(`${wharf.url}/?calls=${list.join(',')}`)).body) as string[]
      try {
        assert.deepEqual(
          await calls(['service-fetch', 'service-connect', 'fetch', 'connect', 'service-fetch']),
          ['ok', 'ok', 'ok', 'ok', 'Too many subrequests.']
        )
        assert.deepEqual(
          await calls([
            'service-connect',
            'service-connect',
            'service-connect',
            'service-connect',
            'fetch',
          ]),
          ['ok', 'ok', 'ok', 'ok', 'Too many subrequests.']
        )
        // Each request has its own budget.
        assert.deepEqual(await calls(['fetch', 'fetch', 'fetch', 'fetch']), [
          'ok',
          'ok',
          'ok',
          'ok',
        ])
      } finally {
        await wharf.stop()
        await echo.close()
        origin.close()
      }
    })
  })

for (const mode of MODES)
  describe(`wharf ${mode}: a dispatch namespace (Workers for Platforms)`, () => {
    it('reaches user Workers by name through env.X.get(), behind the namespace’s Outbound Worker', async () => {
      const dispatcher = project('dispatcher', ['dispatcher.js'], {
        main: 'dispatcher.js',
        dispatch_namespaces: [
          {
            binding: 'DISPATCHER',
            namespace: 'customers',
            outbound: { service: 'ns-outbound', parameters: ['TENANT'] },
          },
        ],
      })
      const tenant = (name: string, namespace?: string): string =>
        project(name, ['tenant.js'], {
          main: 'tenant.js',
          vars: { NAME: name },
          ...(namespace === undefined ? {} : { wharf: { dispatch_namespace: namespace } }),
        })
      const outbound = project('ns-outbound', ['ns-outbound.js'], {
        main: 'ns-outbound.js',
        vars: { FIXED: 'f' },
      })
      const files = [dispatcher, tenant('alpha', 'customers'), tenant('beta', 'customers')]
      const wharf = await startHost(mode, [...files, tenant('outsider'), outbound])
      try {
        if (mode === 'dev') {
          assert.match(wharf.output(), /env\.DISPATCHER \(customers\)\s+Dispatch Namespace\s+local/)
        }
        // The user Worker sees the dispatcher's request as it was made.
        const who = await get(`${wharf.url}/w/alpha/whoami?q=1`)
        assert.equal(who.status, 200)
        assert.deepEqual(JSON.parse(who.body), {
          name: 'alpha',
          url: 'https://alpha.example/whoami?q=1',
          from: 'dispatcher',
        })
        // Its fetch() goes to the Outbound Worker, which gets the listed parameter only.
        const viaOutbound = (await get(`${wharf.url}/w/beta/call`)).body
        assert.match(viaOutbound, /^beta got 200: /)
        assert.deepEqual(JSON.parse(viaOutbound.replace(/^beta got 200: /, '')), {
          url: 'https://api.example.com/data',
          tenant: 't-beta',
          notListed: null,
          fixed: 'f',
        })
        // A user Worker cannot set the parameters itself.
        for (const [query, tenant] of [
          ['', 't-alpha'],
          ['?noparams', null],
        ] as const) {
          const forged = (await get(`${wharf.url}/w/alpha/forge${query}`)).body
          const seen = JSON.parse(forged.replace(/^alpha got 200: /, '')) as { tenant: unknown }
          assert.equal(seen.tenant, tenant, query)
        }
        assert.equal(
          (await get(`${wharf.url}/w/alpha/call?host=forbidden.example`)).body,
          'alpha got 403: refused'
        )
        // connect(): to the user Worker's handler; the user Worker's own connect() is refused.
        assert.equal(
          (await get(`${wharf.url}/connect/beta`)).body,
          'beta at kv.internal:6379 got ping'
        )
        assert.equal(
          (await get(`${wharf.url}/w/alpha/connect-out`)).body,
          'proxy request failed, cannot connect to the specified address'
        )
        // A name that is no user Worker of the namespace, even another Worker of the host.
        for (const name of ['nobody', 'outsider']) {
          const missing = await get(`${wharf.url}/w/${name}/whoami`)
          assert.equal(missing.status, 404, name)
          assert.equal(missing.body, 'Error: Worker not found.')
        }
        assert.match(
          (await get(`${wharf.url}/rpc`)).body,
          /^TypeError: env\.DISPATCHER\.get\("alpha"\)\.getUser\(\): RPC to another Worker is not supported/
        )
      } finally {
        await wharf.stop()
      }
    })

    it('refuses a namespace member that is the primary, or an outbound Worker the host lacks', async () => {
      const lonely = project('lonely-dispatcher', ['dispatcher.js'], {
        main: 'dispatcher.js',
        dispatch_namespaces: [
          { binding: 'DISPATCHER', namespace: 'customers', outbound: { service: 'missing' } },
        ],
      })
      const primaryMember = project('primary-member', ['tenant.js'], {
        main: 'tenant.js',
        wharf: { dispatch_namespace: 'customers' },
      })
      const run = (files: string[]) =>
        runWharf(
          mode === 'dev'
            ? ['dev', ...configs(files), '--port', '0', '--no-watch']
            : ['serve', ...configs(files), '--port', '0']
        )
      const missing = await run([lonely])
      assert.equal(missing.code, 1)
      assert.match(
        missing.stderr + missing.stdout,
        /ERR_WHARF_CONFIG: .*gives DISPATCHER the outbound Worker "missing", which is not a Worker of this host/
      )
      const primary = await run([primaryMember])
      assert.equal(primary.code, 1)
      assert.match(
        primary.stderr + primary.stdout,
        /ERR_WHARF_CONFIG: .*"wharf\.dispatch_namespace" is set on the primary Worker/
      )
    })
  })

/** One plain TCP client: sends `text`, reads to EOF (bounded). */
function tcpExchange(port: number, text: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no EOF within ${timeoutMs} ms (got ${JSON.stringify(data)})`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => (data += c))
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.on('end', () => {
      clearTimeout(timer)
      socket.end()
      resolve(data)
    })
    socket.write(text)
  })
}

for (const mode of MODES)
  describe(`wharf ${mode}: inbound TCP (wharf.tcp)`, () => {
    it('serves a line protocol to 200 concurrent plain TCP clients, with no descriptor left behind', async () => {
      const kv = project('kv', ['tcp-kv.js'], {
        main: 'tcp-kv.js',
        vars: { GREETING: 'from a Worker' },
        wharf: { tcp: [{ port: 0 }, { port: 0, entrypoint: 'Greeter' }] },
      })
      // Under serve, two runtime processes share the listener's connections.
      const wharf = await startHost(mode, [kv], 2)
      try {
        const plain = Number((await wharf.waitFor(/TCP 127\.0\.0\.1:(\d+) -> kv's/))[1])
        const greeter = Number((await wharf.waitFor(/TCP 127\.0\.0\.1:(\d+) -> kv's .*Greeter/))[1])
        const info = await tcpExchange(plain, 'INFO\nQUIT\n')
        const [line] = info.split('\n')
        const opened = JSON.parse(line ?? '') as { remoteAddress: string; localAddress: string }
        assert.equal(opened.localAddress, `127.0.0.1:${plain}`)
        assert.match(opened.remoteAddress, /^127\.0\.0\.1:\d+$/)
        assert.equal(
          await tcpExchange(greeter, 'GET a\nQUIT\n'),
          '+HELLO from a Worker\n$-1\n+BYE\n'
        )

        // The supervisor's and every runtime process's descriptors.
        const before = treeFds(wharf.pid)
        const during: number[] = []
        const sampler = setInterval(() => during.push(treeFds(wharf.pid)), 20)
        const replies = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            tcpExchange(plain, `SET k${i} v${i}\nGET k${i}\nGET other\nNOPE\nQUIT\n`)
          )
        )
        clearInterval(sampler)
        replies.forEach((reply, i) => {
          assert.equal(reply, `+OK\n$v${i}\n$-1\n-ERR unknown command\n+BYE\n`, `client ${i}`)
        })
        // Every connection's request ended and its descriptor was closed (bounded wait: the last
        // requests end just after their clients saw EOF).
        const deadline = Date.now() + 10_000
        let after = treeFds(wharf.pid)
        while (after > before + 4 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100))
          after = treeFds(wharf.pid)
        }
        assert.ok(after <= before + 4, `descriptors: ${before} before, ${after} after`)
        assert.ok(before > 10, `counted the tree's descriptors (${before})`)
        console.log(
          `descriptors: ${before} before, at most ${Math.max(...during)} during, ${after} after`
        )
        if (mode === 'serve') {
          // Each connection is a request of one of kv's two runtimes, with serve's log line.
          const runtimes = new Set<string>()
          const until = Date.now() + 10_000
          while (runtimes.size < 2 && Date.now() < until) {
            for (const m of wharf.output().matchAll(/\] 1\.(\d+)-\w+ connect 127\.0\.0\.1:/g))
              runtimes.add(m[1] ?? '')
            if (runtimes.size < 2) await new Promise((resolve) => setTimeout(resolve, 100))
          }
          assert.equal(runtimes.size, 2, 'both runtime processes served connections')
        }
        // A client that leaves without a word also ends its request.
        const quiet = net.connect({ host: '127.0.0.1', port: plain })
        await new Promise((resolve) => quiet.once('connect', resolve))
        quiet.destroy()
        assert.equal(await tcpExchange(plain, 'QUIT\n'), '+BYE\n')
      } finally {
        await wharf.stop()
      }
    })
  })

describe('examples/services', () => {
  it('the gateway reaches the kv Worker through its binding, and ioredis reaches it over wharf.tcp', async () => {
    const home = join(root, 'example')
    cpSync(join(ROOT, 'examples', 'services'), home, { recursive: true })
    // The example listens on 6380; here a free port, so parallel runs never collide.
    const kvConfig = join(home, 'kv', 'wrangler.jsonc')
    writeFileSync(kvConfig, readFileSync(kvConfig, 'utf8').replace('"port": 6380', '"port": 0'))
    const gateway = join(home, 'gateway', 'wrangler.jsonc')
    const wharf = await startWharf(root, [...configs([gateway, kvConfig]), '--no-watch'], 30_000)
    const redisPort = Number((await wharf.waitFor(/TCP 127\.0\.0\.1:(\d+) -> kv's/))[1])
    const redis = new Redis({
      host: '127.0.0.1',
      port: redisPort,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableReadyCheck: false,
      connectTimeout: 10_000,
    })
    try {
      assert.deepEqual(JSON.parse((await get(`${wharf.url}/?key=greeting&value=hello`)).body), {
        key: 'greeting',
        reply: 'OK',
        via: 'kv.internal:6379',
      })
      await redis.connect()
      assert.equal(await redis.ping(), 'PONG')
      assert.equal(await redis.get('greeting'), 'hello', 'what the gateway set, seen over TCP')
      assert.equal(await redis.set('from-redis', 'v1'), 'OK')
      assert.equal(await redis.get('missing'), null)
      assert.equal(
        (JSON.parse((await get(`${wharf.url}/?key=from-redis`)).body) as { reply: string }).reply,
        'v1'
      )
      await assert.rejects(redis.call('FLUSHALL'), /unknown command 'FLUSHALL'/)
    } finally {
      redis.disconnect()
      await wharf.stop()
    }
  })
})

describe('hot reload of a Worker other than the first', () => {
  it('rebuilds the bound Worker when its file changes, and the binding reaches the new version', async () => {
    const front = project('reload-front', ['caller.js'], {
      main: 'caller.js',
      services: [
        { binding: 'PLAIN', service: 'reload-plain' },
        { binding: 'BACKEND', service: 'reload-plain' },
        { binding: 'NAMED', service: 'reload-plain' },
      ],
    })
    const plain = project('reload-plain', ['plain.js'], { main: 'plain.js' })
    const wharf = await startWharf(root, configs([front, plain]), 30_000)
    const body = async (): Promise<string> =>
      (JSON.parse((await get(`${wharf.url}/plainFetch`)).body) as { body: string }).body
    try {
      assert.equal(await body(), 'plain')
      writeFileSync(
        join(root, 'reload-plain', 'plain.js'),
        'export default { fetch() { return new Response("plain, reloaded") } }\n'
      )
      await wharf.waitFor(/⎔ reload-plain updated and ready/, 30_000)
      // A keep-alive connection from the caller's binding still reaches the draining runtime
      // until it closes its idle connections (0.5 s later): poll, bounded.
      const deadline = Date.now() + 10_000
      let seen = await body()
      while (seen !== 'plain, reloaded' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        seen = await body()
      }
      assert.equal(seen, 'plain, reloaded')
    } finally {
      await wharf.stop()
    }
  })
})

describe('wharf serve: a service runtime stopped by its CPU limit', () => {
  it('gives the caller Error 1102 (fetch) or a closed socket (connect), and is replaced', async () => {
    const caller = project('crash-caller', ['crashy.js'], {
      main: 'crashy.js',
      services: [{ binding: 'BACKEND', service: 'crash-callee' }],
    })
    const callee = project('crash-callee', ['crashy.js'], {
      main: 'crashy.js',
      vars: { WHO: 'callee' },
      limits: { cpu_ms: 500 },
    })
    const served = await startHost('serve', [caller, callee])
    const json = async (path: string): Promise<Record<string, unknown>> =>
      JSON.parse((await get(`${served.url}${path}`, 30_000)).body) as Record<string, unknown>
    try {
      assert.deepEqual(await json('/fetch/ok'), { status: 200, body: 'ok from callee' })
      // fetch(): the callee's runtime answers the caller with Cloudflare's page, then stops.
      const spun = await json('/fetch/spin')
      assert.equal(spun.status, 503)
      assert.match(String(spun.body), /Error 1102/)
      await served.waitFor(/crash-callee: runtime 1\.\d+ \(pid \d+\) stopped: cpu: /, 30_000)
      // The replacement serves the next call (it waits in the pool's queue meanwhile).
      assert.deepEqual(await json('/fetch/ok'), { status: 200, body: 'ok from callee' })
      assert.deepEqual(await json('/connect/hi'), { text: 'echo hi', closed: 'ok' })
      // connect(): a raw socket gets no HTTP page; the caller's socket ends, and no bytes came.
      const cut = await json('/connect/spin')
      assert.equal(cut.text, '')
      // Two stops in all: the fetch()'s runtime, then the connect()'s (bounded wait for the line).
      const stopped = /crash-callee: runtime 1\.\d+ \(pid \d+\) stopped: cpu: /g
      const until = Date.now() + 30_000
      while ((served.output().match(stopped) ?? []).length < 2 && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      assert.equal((served.output().match(stopped) ?? []).length, 2, served.output())
      assert.deepEqual(await json('/connect/again'), { text: 'echo again', closed: 'ok' })
      // The caller's own runtime never stopped.
      assert.doesNotMatch(served.output(), /crash-caller: runtime|\] runtime 1\.\d+ \(pid/)
    } finally {
      await served.stop()
    }
  })
})

for (const mode of MODES)
  describe(`wharf ${mode}: env.X.fetch() and the six socket slots`, () => {
    it('a fetch() through a binding waits while six connect() sockets hold the slots', async () => {
      const caller = project('slots-caller', ['slots.js'], {
        main: 'slots.js',
        services: [{ binding: 'BACKEND', service: 'slots-callee' }],
      })
      const callee = project('slots-callee', ['slots.js'], { main: 'slots.js' })
      const host = await startHost(mode, [caller, callee])
      const run = async (n: number, wait: number): Promise<unknown> =>
        JSON.parse((await get(`${host.url}/?n=${n}&wait=${wait}`, 30_000)).body)
      try {
        // With five held, the sixth slot is free: the fetch() finishes at once (bounded: 10 s).
        assert.deepEqual(await run(5, 10_000), {
          beforeClose: true,
          body: 'hello from the callee',
        })
        // With six held, it waits in the queue until one closes, then gets the freed slot.
        assert.deepEqual(await run(6, 1500), {
          beforeClose: false,
          body: 'hello from the callee',
        })
      } finally {
        await host.stop()
      }
    })
  })

describe('wharf serve: a deploy (SIGHUP) of several Workers', () => {
  it('builds and deploys the bound Worker’s code too, and the binding reaches the new version', async () => {
    const front = project('deploy-front', ['caller.js'], {
      main: 'caller.js',
      services: [{ binding: 'PLAIN', service: 'deploy-plain' }],
    })
    const plain = project('deploy-plain', ['plain.js'], { main: 'plain.js' })
    const served = await startServed(root, [...configs([front, plain]), '--processes', '1'], 60_000)
    const body = async (): Promise<string> =>
      (JSON.parse((await get(`${served.url}/plainFetch`)).body) as { body: string }).body
    try {
      assert.equal(await body(), 'plain')
      writeFileSync(
        join(root, 'deploy-plain', 'plain.js'),
        'export default { fetch() { return new Response("plain, deployed") } }\n'
      )
      served.child.kill('SIGHUP')
      await served.waitFor(/deployed: the new version serves/, 90_000)
      // A keep-alive connection of the caller may reach the draining runtime a moment longer.
      const deadline = Date.now() + 10_000
      let seen = await body()
      while (seen !== 'plain, deployed' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        seen = await body()
      }
      assert.equal(seen, 'plain, deployed')
    } finally {
      await served.stop()
    }
  })
})
