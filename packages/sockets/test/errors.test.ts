// The error model: every coded error is a WharfSocketsError with its own subclass and a code
// documented in docs/errors.md; operator-facing causes carry those codes; Worker-visible errors
// stay workerd's.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as errors from '../src/errors.js'
import { createEgressPolicy, EgressConfigError } from '../src/egress/index.js'
import { connect } from '../src/index.js'
import { setSocketRuntime } from '../src/runtime.js'
import { errorChannel } from '../src/diagnostics.js'

const root = join(import.meta.dirname, '..', '..', '..')
const source = readFileSync(join(root, 'packages/sockets/src/errors.ts'), 'utf8')
const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8')
const codesInSource = [...source.matchAll(/super\('(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1] ?? '')

describe('error model', () => {
  it('one subclass per code, each documented in docs/errors.md', () => {
    assert.ok(codesInSource.length >= 8, `found ${codesInSource.length} codes`)
    assert.equal(new Set(codesInSource).size, codesInSource.length, 'a code is used twice')
    const classes = Object.values(errors).filter(
      (v): v is typeof errors.WharfSocketsError =>
        typeof v === 'function' && v.prototype instanceof errors.WharfSocketsError
    )
    assert.equal(classes.length, codesInSource.length, 'one subclass per code')
    for (const code of codesInSource) {
      assert.ok(doc.includes(`\`${code}\``), `${code} is not in docs/errors.md`)
    }
  })

  it('instances carry name, code and are WharfSocketsErrors', () => {
    const e = new errors.SocketConnectTimeoutError(5)
    assert.ok(e instanceof errors.WharfSocketsError && e instanceof Error)
    assert.equal(e.code, 'ERR_SOCKET_CONNECT_TIMEOUT')
    assert.equal(e.name, 'SocketConnectTimeoutError')
    assert.equal(e.message, 'connect timed out after 5 ms')
  })

  it('dnsTimeoutMs out of range is ERR_EGRESS_CONFIG, not a bare RangeError', () => {
    for (const dnsTimeoutMs of [0, -1, 1.5, 120_001, Number.NaN]) {
      assert.throws(
        () => createEgressPolicy({ dnsTimeoutMs }),
        (error: unknown) =>
          error instanceof EgressConfigError &&
          error.code === 'ERR_EGRESS_CONFIG' &&
          /dnsTimeoutMs/.test(error.message)
      )
    }
    assert.doesNotThrow(() => createEgressPolicy({ dnsTimeoutMs: 120_000 }))
  })

  it('a connect timeout: the Worker sees workerd’s error, the operator the coded cause', async () => {
    const seen: unknown[] = []
    const onError = (m: unknown): void => {
      seen.push((m as { error: unknown }).error)
    }
    errorChannel.subscribe(onError)
    // A policy that decides only when aborted: the connect can only end by its timeout.
    const policy = {
      decide: (_host: string, _port: number, signal: AbortSignal) =>
        new Promise<never>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })
        }),
    }
    setSocketRuntime({ admit: () => ({ policy, connectTimeoutMs: 30 }) })
    try {
      const s = connect('127.0.0.1:9')
      await assert.rejects(s.closed, (e: unknown) => {
        assert.ok(!(e instanceof errors.WharfSocketsError))
        assert.equal(
          (e as Error).message,
          'proxy request failed, cannot connect to the specified address'
        )
        return true
      })
    } finally {
      setSocketRuntime(undefined)
      errorChannel.unsubscribe(onError)
    }
    assert.equal(seen.length, 1)
    assert.ok(seen[0] instanceof errors.SocketConnectTimeoutError)
  })
})
