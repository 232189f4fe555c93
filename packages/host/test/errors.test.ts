// The host's one error model: every coded error is a subclass of WharfError with its own code,
// and the places an operator meets one (a refused or timed-out dial, a runtime that exits, a
// pooler that does not start) raise it. Real broker, real loopback sockets, the built CLI.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { EgressDeniedError } from '@wharf/sockets/runtime'
import * as host from '../src/index.js'
import { DialBroker } from '../src/broker.js'
import { configError, listenError, loadError, WharfError } from '../src/errors.js'
import { startHyperdrive } from '../src/hyperdrive.js'
import type { DialReply, EgressPolicy } from '../src/protocol.js'
import { dial, onDialReply } from '../src/runtime/dial-client.js'
import { BIN } from './helpers.js'

const LIMITS = { connectTimeoutMs: 300, maxPendingDials: 4 }

/** A policy that allows only 127.0.0.1, and refuses port 25 with Cloudflare's message. */
const loopbackOnly: EgressPolicy = {
  decide: (hostname, port) =>
    Promise.resolve(
      port === 25
        ? {
            allowed: false,
            rule: 'deny port:25',
            reason: 'SMTP',
            workerMessage: 'Connections to port 25 are prohibited',
          }
        : hostname === '127.0.0.1'
          ? { allowed: true, address: '127.0.0.1', family: 4, rule: 'allow cidr:127.0.0.1/32' }
          : { allowed: false, rule: 'deny default:public', reason: 'not allowed' }
    ),
}

describe('host errors: one class per code', () => {
  it('every exported host error has its own ERR_WHARF_ code and its class name', () => {
    const classes = Object.entries(host as Record<string, unknown>).filter(
      (e): e is [string, new (...args: never[]) => WharfError] =>
        typeof e[1] === 'function' &&
        (e[1] as { prototype: unknown }).prototype instanceof WharfError
    )
    assert.ok(classes.length >= 14, `only ${classes.length} subclasses exported`)
    const codes = new Set<string>()
    for (const [name, Class] of classes) {
      // Constructed with strings only: enough for every subclass's message.
      const error = new (Class as unknown as new (...a: unknown[]) => WharfError)(
        'a',
        'b',
        'c',
        new Error('d')
      )
      assert.equal(error.name, name)
      assert.match(error.code, /^ERR_WHARF_[A-Z_]+$/)
      assert.ok(error instanceof WharfError && error instanceof Error)
      assert.ok(!codes.has(error.code), `${error.code} is used twice`)
      codes.add(error.code)
    }
  })

  it('keeps the messages operators and tests match on', () => {
    const config = configError('wrangler.json', 'field "x" must be a string')
    assert.equal(config.code, 'ERR_WHARF_CONFIG')
    assert.equal(config.message, 'wrangler.json: field "x" must be a string')
    const busy = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })
    const listen = listenError('wharf dev', '127.0.0.1', 8787, busy)
    assert.equal(listen.code, 'ERR_WHARF_LISTEN')
    assert.equal(
      listen.message,
      'wharf dev: cannot listen on 127.0.0.1:8787: EADDRINUSE (the address is in use)'
    )
    assert.equal(listen.cause, busy)
  })

  it("a runtime's loadError names the start-up code only when it is the host's own", () => {
    assert.equal(loadError('ERR_WHARF_STARTUP', 'slow').code, 'ERR_WHARF_STARTUP')
    assert.equal(loadError('ERR_WHARF_CONFIG', 'forged').code, 'ERR_WHARF_WORKER_LOAD')
    assert.equal(loadError({ toString: () => 'x' }, 'odd').code, 'ERR_WHARF_WORKER_LOAD')
  })
})

describe('host errors: the dial broker', () => {
  const broker = new DialBroker(loopbackOnly, LIMITS)

  it('a denied dial is an EgressDeniedError naming the rule, with the Worker message kept', async () => {
    const denied = await broker.open('192.0.2.1', 443).then(
      () => assert.fail('connected'),
      (error: unknown) => error
    )
    assert.ok(denied instanceof EgressDeniedError)
    assert.equal(denied.code, 'ERR_EGRESS_DENIED')
    assert.equal(denied.message, 'egress denied by deny default:public: not allowed')
    assert.equal(denied.workerMessage, undefined)
    const smtp = await broker.open('127.0.0.1', 25).then(
      () => assert.fail('connected'),
      (error: unknown) => error as EgressDeniedError
    )
    assert.equal(smtp.workerMessage, 'Connections to port 25 are prohibited')

    // And the runtime gets both through the reply.
    const reply = await new Promise<DialReply>((resolve) => {
      void broker.handle({ t: 'dial', id: 7, hostname: '127.0.0.1', port: 25 }, resolve)
    })
    assert.deepEqual(reply, {
      t: 'dialed',
      id: 7,
      ok: false,
      reason: 'egress denied by deny port:25: SMTP',
      workerMessage: 'Connections to port 25 are prohibited',
    })
  })

  it('a policy that answers after the deadline gives ERR_WHARF_DIAL_TIMEOUT, not a connection', async () => {
    let accepted = 0
    const server = net.createServer((s) => {
      accepted++
      s.destroy()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const late: EgressPolicy = {
      decide: (hostname, _port, signal) =>
        new Promise((resolve) => {
          const answer = (): void =>
            resolve({ allowed: true, address: hostname, family: 4, rule: 'allow test' })
          // Bounded either way: the deadline's abort, or 5 s if the broker passed no deadline.
          const guard = setTimeout(answer, 5000)
          signal.addEventListener('abort', () => {
            clearTimeout(guard)
            answer()
          })
        }),
    }
    try {
      const error = await new DialBroker(late, LIMITS).open('127.0.0.1', port).then(
        (socket) => {
          socket.destroy()
          return assert.fail('connected after the deadline')
        },
        (e: unknown) => e as WharfError
      )
      assert.ok(error instanceof host.WharfDialTimeoutError)
      assert.equal(error.code, 'ERR_WHARF_DIAL_TIMEOUT')
      assert.equal(error.message, `connect to 127.0.0.1:${port} timed out`)
      assert.equal(accepted, 0)
    } finally {
      server.close()
    }
  })

  it("the runtime's dial client rejects with ERR_WHARF_DIAL carrying the reason and Worker message", async () => {
    const sent: unknown[] = []
    const original = Object.getOwnPropertyDescriptor(process, 'send')
    process.send = ((message: unknown) => sent.push(message) > 0) as typeof process.send
    try {
      const pending = dial({ hostname: '127.0.0.1', port: 25 })
      const request = sent[0] as { id: number }
      assert.equal(typeof request.id, 'number')
      const handled = onDialReply(
        {
          t: 'dialed',
          id: request.id,
          ok: false,
          reason: 'egress denied by deny port:25: SMTP',
          workerMessage: 'Connections to port 25 are prohibited',
        },
        undefined
      )
      assert.equal(handled, true)
      const error = await pending.then(
        () => assert.fail('resolved'),
        (e: unknown) => e as host.WharfDialError
      )
      assert.ok(error instanceof host.WharfDialError)
      assert.equal(error.code, 'ERR_WHARF_DIAL')
      assert.equal(error.message, 'egress denied by deny port:25: SMTP')
      assert.equal(error.workerMessage, 'Connections to port 25 are prohibited')
    } finally {
      if (original === undefined) delete process.send
      else Object.defineProperty(process, 'send', original)
    }
  })
})

describe('host errors: what the operator sees', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-errors-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('a Worker process that exits at start is ERR_WHARF_RUNTIME_EXIT with its exit code', () => {
    writeFileSync(
      join(dir, 'wrangler.json'),
      JSON.stringify({
        name: 'exits',
        main: 'index.js',
        compatibility_date: '2024-09-23',
        compatibility_flags: ['nodejs_compat'],
      })
    )
    writeFileSync(
      join(dir, 'index.js'),
      'import process from "node:process"\nprocess.exit(3)\nexport default { fetch: () => new Response("never") }\n'
    )
    const run = spawnSync(process.execPath, [BIN, 'dev', dir, '--no-watch', '--port', '0'], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.equal(run.status, 1, run.stderr)
    assert.match(run.stderr, /✘ ERROR ERR_WHARF_RUNTIME_EXIT: the Worker process exited \(code 3\)/)
  })

  it('bad flags of wharf dev are ERR_WHARF_USAGE naming the flag, before anything starts', () => {
    for (const [flags, message] of [
      [['--port', '70000'], /✘ ERROR ERR_WHARF_USAGE: --port expects 0-65535 \(got "70000"\)/],
      [['--isolation', 'vm'], /✘ ERROR ERR_WHARF_USAGE: --isolation must be auto, netns or none/],
      [['--deny', '10.0.0.1/8'], /✘ ERROR ERR_WHARF_USAGE: --deny: invalid egress rule/],
    ] as const) {
      const run = spawnSync(process.execPath, [BIN, 'dev', dir, ...flags], {
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(run.status, 1, run.stderr)
      assert.match(run.stderr, message)
    }
  })

  it('a MySQL hyperdrive pooler that does not start is logged with ERR_WHARF_HYPERDRIVE_START', async () => {
    const lines: string[] = []
    const started = await startHyperdrive(
      [
        {
          binding: 'DB',
          localConnectionString: 'mysql://u:p@127.0.0.1:1/db?ssl-mode=not-a-mode',
          caching: { disabled: true, maxAge: 60, staleWhileRevalidate: 15 },
        },
      ],
      (line) => lines.push(line)
    )
    try {
      assert.equal(started.length, 1)
      assert.equal(started[0]?.info, undefined)
      assert.ok(started[0]?.error, 'the binding carries the reason')
      assert.equal(lines.length, 1, lines.join('\n'))
      assert.match(
        lines[0] ?? '',
        /^\[wharf:error\] ERR_WHARF_HYPERDRIVE_START: hyperdrive binding DB: the MySQL pooler did not start: /
      )
    } finally {
      await Promise.all(started.map((s) => s.close()))
    }
  })
})
