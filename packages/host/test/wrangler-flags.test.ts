// `wrangler dev` flags on a `wharf dev` command line: what is taken out with a warning, what
// passes, and what is refused with the config field to use instead.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { takeWranglerFlags } from '../src/wrangler-flags.js'
import { FIXTURES, runWharf } from './helpers.js'
import { join } from 'node:path'

describe('wrangler dev flags in wharf dev', () => {
  it('takes out flags without effect here, with their values, one warning each', () => {
    const { argv, warnings } = takeWranglerFlags([
      'app',
      '--port=0',
      '--inspector-port=0',
      '--persist-to',
      '.wrangler/state',
      '--local',
      '--show-interactive-dev-session=false',
      '--live-reload',
      '--experimental-images-local-mode',
      '--var',
      'A:1',
    ])
    assert.deepEqual(argv, ['app', '--port=0', '--var', 'A:1'])
    assert.deepEqual(
      warnings.map((w) => /--([a-z-]+)/.exec(w)?.[1]),
      [
        'inspector-port',
        'persist-to',
        'show-interactive-dev-session',
        'live-reload',
        'experimental-images-local-mode',
      ]
    )
  })

  it('--remote=false and --local=… mean what wharf always is', () => {
    assert.deepEqual(takeWranglerFlags(['--remote=false', '--local=true', '.']).argv, ['.'])
  })

  it('does not take the next flag as a value, and leaves everything after -- alone', () => {
    const { argv } = takeWranglerFlags(['--log-level', '--port', '8787', '--', '--inspector-port'])
    assert.deepEqual(argv, ['--port', '8787', '--', '--inspector-port'])
  })

  it('refuses --remote and the build flags, naming the config field to set', () => {
    assert.throws(
      () => takeWranglerFlags(['--remote']),
      /ERR_WHARF_USAGE|--remote runs the Worker on Cloudflare/
    )
    assert.throws(
      () => takeWranglerFlags(['--compatibility-date=2025-01-01']),
      /set "compatibility_date" there/
    )
    assert.throws(() => takeWranglerFlags(['--assets', 'public']), /set "assets.directory" there/)
  })

  it('on the command line: an unknown flag is still a usage error; --remote is refused', async () => {
    const dir = join(FIXTURES, 'scope')
    const unknown = await runWharf(['dev', dir, '--port', '0', '--no-such-flag'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /ERR_WHARF_USAGE: Unknown option '--no-such-flag'/)
    const remote = await runWharf(['dev', dir, '--remote'])
    assert.equal(remote.code, 1)
    assert.match(remote.stderr, /ERR_WHARF_USAGE: --remote runs the Worker on Cloudflare/)
  })
})
