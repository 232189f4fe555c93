// Hostile Worker code against the runtime's sandbox (sandbox.ts): every way out it can think of
// must fail under the default sandbox. Each attempt also runs with `--sandbox off`, where the test
// asserts it succeeds: proof that the attempt really tries, and that the sandbox is what stops it.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { compileNative } from '../scripts/build-native.mjs'
import { hasFdChannel } from '../src/fd-channel.js'
import { BIN, FIXTURES, ROOT, childPids, get, startWharf, type Wharf } from './helpers.js'

const FIXTURE = join(FIXTURES, 'sandbox-escape')
const PROBE = join(FIXTURE, 'native-probe.node')
const SECRET = `host-secret-${process.pid}-${Date.now()}`

interface Expect {
  /** What the sandboxed attempt must answer. */
  readonly sandboxed: RegExp
  /** What the same attempt answers with the sandbox off. */
  readonly off: RegExp
}

const DENIED = /^blocked: ERR_ACCESS_DENIED /
const PASSWD = /^reached: root:x:0:0:/

const EXPECT: Record<string, Expect> = {
  'read /etc/passwd': { sandboxed: DENIED, off: PASSWD },
  // The link is inside the project; its target is not in the sandbox's mount namespace at all.
  'read through a symlink': { sandboxed: /^blocked: (ENOENT|ERR_ACCESS_DENIED) /, off: PASSWD },
  'read through ..': { sandboxed: DENIED, off: PASSWD },
  'read /proc/self/root': { sandboxed: DENIED, off: PASSWD },
  'read /proc/<ppid>/environ': { sandboxed: DENIED, off: new RegExp(`^reached: .*${SECRET}`) },
  'read /proc/<supervisor>/environ': {
    sandboxed: DENIED,
    off: new RegExp(`^reached: .*${SECRET}`),
  },
  'read /proc/self/environ': { sandboxed: DENIED, off: /^reached: NODE_CHANNEL_FD=/ },
  'list /proc/self/fd': { sandboxed: DENIED, off: /^reached: \["/ },
  'list host processes': { sandboxed: DENIED, off: /^reached: \["1",/ },
  // Never the host's environment, sandbox or not (issue: process.env held the host's secrets).
  'process.env': { sandboxed: /^reached: \{\}$/, off: /^reached: \{\}$/ },
  'import file:// of a host module': {
    sandboxed: /^blocked: (ERR_MODULE_NOT_FOUND|ERR_ACCESS_DENIED) /,
    off: /^reached: host-secret-module$/,
  },
  'import() of an absolute host path': {
    sandboxed: /^blocked: (ERR_MODULE_NOT_FOUND|ERR_ACCESS_DENIED) /,
    off: /^reached: host-secret-module$/,
  },
  'require() of an absolute host path': {
    sandboxed: /^blocked: (MODULE_NOT_FOUND|ERR_ACCESS_DENIED) /,
    off: /^reached: host-secret-cjs$/,
  },
  'write a host file': { sandboxed: DENIED, off: /^reached: written$/ },
  'write into the project': { sandboxed: DENIED, off: /^reached: written$/ },
  'child_process.execSync': { sandboxed: DENIED, off: /^reached: uid=\d+/ },
  'child_process.spawnSync of node': { sandboxed: DENIED, off: /^reached: \d+/ },
  'process.binding(spawn_sync)': { sandboxed: DENIED, off: /^reached: function$/ },
  // An addon of the Worker's own. With the fd channel the runtime may load addons (the permission
  // layer allows them only under the seccomp filter); without it, loading is refused outright.
  'native code: fork()': {
    sandboxed: hasFdChannel() ? /^reached: errno 1$/ : /^blocked: ERR_DLOPEN_DISABLED /,
    off: /^reached: forked$/,
  },
  'native code: open /etc/passwd': {
    sandboxed: hasFdChannel() ? /^reached: errno 2$/ : /^blocked: ERR_DLOPEN_DISABLED /,
    off: /^reached: opened$/,
  },
  WASI: { sandboxed: DENIED, off: /^reached: function$/ },
  // The supervisor's PID does not exist in the runtime's PID namespace.
  'signal the supervisor': { sandboxed: /^blocked: ESRCH /, off: /^reached: true$/ },
  'signal its process group': { sandboxed: /^blocked: EPERM /, off: /^reached: true$/ },
}

describe('sandbox: Worker code cannot get out of its runtime process', () => {
  let sandboxed: Wharf
  let off: Wharf
  let host: string

  before(async () => {
    const failed = compileNative(join(FIXTURES, 'native-probe/probe.c'), PROBE)
    assert.equal(failed, undefined, `the native probe did not build: ${failed}`)
    host = mkdtempSync(join(tmpdir(), 'wharf-escape-host-'))
    writeFileSync(join(host, 'secret.mjs'), "export default 'host-secret-module'\n")
    writeFileSync(join(host, 'secret2.mjs'), "export default 'host-secret-module'\n")
    writeFileSync(join(host, 'secret.cjs'), "module.exports = 'host-secret-cjs'\n")
    // The supervisor holds a secret in its environment, as a real host would.
    process.env.WHARF_TEST_HOST_SECRET = SECRET
    try {
      sandboxed = await startWharf(FIXTURE, ['--no-watch'])
      off = await startWharf(FIXTURE, ['--no-watch', '--sandbox', 'off'])
    } finally {
      delete process.env.WHARF_TEST_HOST_SECRET
    }
  })
  after(async () => {
    await Promise.all([sandboxed?.stop(), off?.stop()])
    rmSync(host, { recursive: true, force: true })
    rmSync(join(FIXTURE, 'written-by-worker'), { force: true })
    rmSync(PROBE, { force: true })
  })

  const ask = async (wharf: Wharf, attempt: string): Promise<string> => {
    const q = new URLSearchParams({
      attempt,
      supervisor: String(wharf.pid),
      host,
      project: FIXTURE,
    })
    const reply = await get(`${wharf.url}/?${q.toString()}`)
    assert.equal(reply.status, 200, reply.body)
    return reply.body
  }

  it('says in the start-up line which sandbox runs the Worker', () => {
    assert.match(
      sandboxed.output(),
      /Worker sandbox: bubblewrap .*; seccomp filter .*Node permission model/
    )
    assert.match(off.output(), /Worker sandbox: off: /)
  })

  it('the fixture tries exactly the attempts this test expects', async () => {
    const listed = JSON.parse((await get(`${sandboxed.url}/list`)).body) as string[]
    assert.deepEqual(listed.sort(), Object.keys(EXPECT).sort())
  })

  for (const [attempt, expect] of Object.entries(EXPECT)) {
    it(`${attempt}: fails sandboxed, works with the sandbox off`, async () => {
      const blocked = await ask(sandboxed, attempt)
      assert.match(blocked, expect.sandboxed)
      assert.doesNotMatch(blocked, new RegExp(SECRET))
      assert.match(await ask(off, attempt), expect.off)
      if (attempt === 'write a host file') {
        assert.ok(existsSync(join(host, 'written-by-worker')), 'the unsandboxed write landed')
        rmSync(join(host, 'written-by-worker'))
      }
    })
  }

  it('nothing the sandboxed Worker tried to write reached the host', () => {
    // The unsandboxed run wrote into the project; the sandboxed one ran first and must not have.
    assert.ok(!existsSync(join(host, 'written-by-worker')))
  })

  it('IPC messages other than a dial do nothing: the supervisor keeps the same runtime serving', async () => {
    for (const wharf of [sandboxed, off]) {
      const runtime = childPids(wharf.pid)
      const reply = await get(`${wharf.url}/ipc`)
      assert.equal(reply.status, 200, reply.body)
      const after = await get(`${wharf.url}/list`)
      assert.equal(after.status, 200)
      assert.deepEqual(childPids(wharf.pid), runtime, 'the runtime process was not replaced')
      assert.doesNotMatch(wharf.output(), /forged by the Worker|exited \(code/)
    }
  })
})

describe('sandbox modes', () => {
  const run = (
    args: string[],
    env: NodeJS.ProcessEnv
  ): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [BIN, 'dev', FIXTURE, '--port', '0', '--no-watch', ...args],
        {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        }
      )
      let out = ''
      const onData = (c: Buffer): void => {
        out += c.toString()
        if (/Ready on/.test(out)) child.kill('SIGTERM')
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`wharf did not finish within 20 s:\n${out}`))
      }, 20_000)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({ code, out })
      })
    })
  // A PATH without bwrap: a machine that cannot sandbox.
  const noBwrap = { PATH: join(ROOT, 'packages/host/test/fixtures') }

  it('auto on a machine without bubblewrap says so in the start-up line, and starts', async () => {
    const { out } = await run([], noBwrap)
    assert.match(
      out,
      /Worker sandbox: unavailable \(bwrap \(Debian package bubblewrap\) is not installed\)/
    )
    assert.match(out, /Ready on/)
  })

  it('strict on such a machine refuses to start', async () => {
    const { code, out } = await run(['--sandbox', 'strict'], noBwrap)
    assert.equal(code, 1)
    assert.match(out, /ERR_WHARF_SANDBOX/)
    assert.doesNotMatch(out, /Ready on/)
  })

  it('strict where bubblewrap works starts sandboxed', async () => {
    const { out } = await run(['--sandbox', 'strict'], { PATH: process.env.PATH ?? '' })
    assert.match(out, /Worker sandbox: bubblewrap/)
  })

  it('rejects an unknown --sandbox value', async () => {
    const { code, out } = await run(['--sandbox', 'maybe'], { PATH: process.env.PATH ?? '' })
    assert.equal(code, 1)
    assert.match(out, /--sandbox must be auto, strict or off/)
  })
})
