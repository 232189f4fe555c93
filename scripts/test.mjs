#!/usr/bin/env node
// Test launcher. Node 20's `--test` neither globs nor finds .ts files, and exits 0 when it ran
// nothing, so this collects *.test.ts files itself and fails when there are none or none ran.
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const roots = [
  'packages/sockets/test',
  'packages/host/test',
  'packages/pool/test',
  'packages/tunnel/test',
  'conformance/test',
  'test',
  'test-support/test',
  'bench/test',
]
  .map((r) => join(root, r))
  .filter((r) => existsSync(r))
const filter = process.argv.slice(2)

const files = roots
  .flatMap((dir) =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.test\.[cm]?ts$/.test(f))
      .map((f) => join(dir, f))
  )
  .filter((f) => filter.length === 0 || filter.some((pattern) => f.includes(pattern)))
  .sort()

if (files.length === 0) {
  console.error(`no test files found under ${roots.map((r) => relative(root, r)).join(', ')}`)
  process.exit(1)
}

// Host, pool-command and driver tests run the packages' built dist/: build incrementally first so a
// stale build can never pass for broken source.
const build = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/host'],
  {
    cwd: root,
    stdio: 'inherit',
  }
)
if (build.status !== 0) {
  console.error('build failed: not running tests')
  process.exit(1)
}

const args = [
  '--import',
  'tsx',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${process.env.WHARF_TEST_CONCURRENCY ?? '2'}`,
  '--test-timeout=300000',
  ...files,
]
/**
 * As root, the tests run in a private mount namespace whose /etc/resolv.conf names only a local
 * DNS server that answers NXDOMAIN (test-support/offline-dns.ts): no DNS query of a test leaves
 * the machine. WHARF_TEST_DNS=system keeps the machine's resolver.
 */
async function offlineResolver() {
  if (process.env.WHARF_TEST_DNS === 'system' || process.getuid?.() !== 0) return undefined
  if (spawnSync('unshare', ['--mount', 'true'], { stdio: 'ignore' }).status !== 0) return undefined
  const dns = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test-support/offline-dns.ts')],
    {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit'],
    }
  )
  const resolvConf = await new Promise((resolve) => {
    let out = ''
    const timer = setTimeout(() => resolve(undefined), 15_000)
    dns.stdout.on('data', (c) => {
      out += c.toString()
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(out.trim())
      }
    })
    dns.once('exit', () => resolve(undefined))
  })
  if (resolvConf === undefined) {
    dns.kill()
    console.error('tests: the local DNS server did not start; using the machine resolver')
    return undefined
  }
  console.error(
    'tests: DNS answered locally (NXDOMAIN for every name); no query leaves the machine'
  )
  return { resolvConf, stop: () => dns.kill() }
}

const dns = await offlineResolver()
const child = dns
  ? spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$0" /etc/resolv.conf && exec "$@"',
        dns.resolvConf,
        process.execPath,
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }
    )
  : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root })
let tail = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString()).slice(-4000)
})
child.on('close', (code, signal) => {
  dns?.stop()
  const passed = /ℹ pass (\d+)/.exec(tail)
  if (code === 0 && (!passed || Number(passed[1]) === 0)) {
    console.error('test run passed zero tests: treating as a failure')
    process.exit(1)
  }
  process.exit(code ?? (signal ? 1 : 0))
})
