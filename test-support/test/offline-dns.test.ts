// The launcher's promise (scripts/test.mjs): as root, tests see a resolv.conf that names only
// the local NXDOMAIN server, so a name that must not resolve fails here, not at a real resolver.
import assert from 'node:assert/strict'
import { lookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

const offline = process.getuid?.() === 0 && process.env.WHARF_TEST_DNS !== 'system'

test(
  'DNS in the test run is answered on this machine',
  { skip: !offline && 'not root, or WHARF_TEST_DNS=system' },
  async () => {
    const conf = readFileSync('/etc/resolv.conf', 'utf8')
    const servers = [...conf.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1])
    assert.equal(servers.length, 1, conf)
    assert.match(servers[0] ?? '', /^127\.53\.\d+\.\d+$/)
    await assert.rejects(lookup('anything.wharf-offline.invalid'), { code: 'ENOTFOUND' })
    assert.equal(
      (await lookup('localhost', { family: 4 })).address,
      '127.0.0.1',
      '/etc/hosts still answers'
    )
  }
)
