// The public surface, entry by entry (as hono checks its exports map): an internal helper that
// leaks into an entry point, or a public name that disappears, fails here.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { it } from 'node:test'

const pkgDir = join(import.meta.dirname, '..')
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
  exports: Record<string, { default?: string; types?: string }>
}

const expected: Record<string, string[]> = {
  '.': ['Socket', 'connect'],
  './register': ['SPECIFIER'],
  './navigator': ['WORKERS_USER_AGENT'],
  './runtime': [
    'EgressDeniedError',
    'SocketAddressError',
    'SocketClosedBeforeOpenError',
    'SocketConnectTimeoutError',
    'SocketUpgradeError',
    'WharfSocketsError',
    'getSocketRuntime',
    'setSocketRuntime',
    'skipTransferableCopy',
    'unbracketHost',
  ],
  './egress': [
    'EgressConfigError',
    'EgressDnsTimeoutError',
    'EgressRuleError',
    'createEgressPolicy',
    'deniedChannel',
    'parseRule',
    'unbracketHost',
  ],
}

/** Names workerd's node:* modules export that a newer Node no longer has. */
const workerdKeeps: Record<string, readonly string[]> = { './node/tls': ['createSecurePair'] }

/** Entries that stand in for a Node module: they may export only names that module has. */
const nodeModules: Record<string, string> = { './node/net': 'node:net', './node/tls': 'node:tls' }

it('every entry of the exports map exposes exactly its documented names', async () => {
  const entries = Object.entries(pkg.exports).filter(([, v]) => typeof v === 'object' && v.default)
  assert.deepEqual(
    entries.map(([k]) => k).sort(),
    [...new Set([...Object.keys(expected), ...Object.keys(nodeModules)])].sort()
  )
  for (const [entry, target] of entries) {
    const source = (target.default ?? '').replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts')
    const mod = (await import(join(pkgDir, source))) as Record<string, unknown>
    const standIn = nodeModules[entry]
    if (standIn !== undefined) {
      const node = Object.keys((await import(standIn)) as object)
      // workerd keeps names this Node may have dropped (Node 24 removed tls.createSecurePair).
      const workerdOnly = workerdKeeps[entry] ?? []
      const extra = Object.keys(mod).filter((k) => !node.includes(k) && !workerdOnly.includes(k))
      assert.deepEqual(extra, [], `${entry} exports names ${standIn} lacks`)
      continue
    }
    assert.deepEqual(Object.keys(mod).sort(), expected[entry], `exports of ${entry}`)
  }
})
