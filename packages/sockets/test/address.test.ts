// connect()'s synchronous argument checks: the exact TypeErrors workerd throws, in workerd's order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from '../src/index.js'
import { refusedPort } from '../../../test-support/servers.js'
import * as msg from '../src/messages.js'

type Call = () => unknown

function throwsType(call: Call, message: string): void {
  assert.throws(call, (e: unknown) => {
    assert.ok(e instanceof TypeError, `expected TypeError, got ${String(e)}`)
    assert.equal(e.message, message)
    return true
  })
}

const unsafe = connect as unknown as (...args: unknown[]) => ReturnType<typeof connect>

test('bad address forms throw workerd TypeErrors synchronously', () => {
  const cases: [unknown[], string][] = [
    [[], msg.ADDRESS_NULL],
    [[undefined], msg.ADDRESS_NULL],
    [[null], msg.ADDRESS_NULL],
    [['::1:9101'], msg.ADDRESS_UNPARSABLE],
    [['127.0.0.1'], msg.ADDRESS_NO_PORT],
    [['127.0.0.1:'], msg.ADDRESS_NO_PORT],
    [[''], msg.ADDRESS_NO_HOSTNAME],
    [[':9101'], msg.ADDRESS_UNPARSABLE],
    [['127.0.0.1:70000'], msg.ADDRESS_UNPARSABLE],
    [['127.0.0.1:abc'], msg.ADDRESS_UNPARSABLE],
    [['127.0.0.1 :9101'], msg.ADDRESS_UNPARSABLE],
    [['tcp://127.0.0.1:9101'], msg.ADDRESS_NO_PORT],
    [['127.0.0.1:9101/x'], msg.ADDRESS_INVALID_HOST],
    [['u@127.0.0.1:9101'], msg.ADDRESS_INVALID_HOST],
    [['a'.repeat(300) + ':80'], msg.ADDRESS_INVALID_HOST],
    [['*'.repeat(64) + ':42'], msg.ADDRESS_INVALID_HOST],
    [[12345], msg.ADDRESS_NO_PORT],
    [[['127.0.0.1', 80]], msg.NOT_INTEGER],
    [[{ hostname: 'h' }], msg.NOT_INTEGER],
    [[{ hostname: 'h', port: NaN }], msg.NOT_INTEGER],
    [[{ hostname: 'h', port: 70000 }], msg.PORT_TOO_LARGE],
    [[{ hostname: 'h', port: -1 }], msg.PORT_NEGATIVE],
  ]
  for (const [args, message] of cases) throwsType(() => unsafe(...args), message)
})

test('bad options throw workerd TypeErrors, after address errors', () => {
  throwsType(() => unsafe('h:1', null), msg.OPTIONS_NULL)
  throwsType(() => unsafe('h:1', 'x'), msg.OPTIONS_NOT_OBJECT)
  throwsType(() => unsafe('h:1', 5), msg.OPTIONS_NOT_OBJECT)
  for (const v of ['bogus', 'OFF', '', true]) {
    throwsType(
      () => unsafe('h:1', { secureTransport: v }),
      msg.unsupportedSecureTransport(String(v))
    )
  }
  throwsType(() => unsafe('h:1', { highWaterMark: -1 }), msg.HWM_NEGATIVE)
  // precedence: address errors first
  throwsType(() => unsafe('127.0.0.1', { secureTransport: 'bogus' }), msg.ADDRESS_NO_PORT)
  throwsType(() => unsafe('h:1/x', { secureTransport: 'bogus' }), msg.ADDRESS_INVALID_HOST)
  // Node-only extras are validated too
  assert.throws(() => unsafe('h:1', { connectTimeoutMs: -5 }), TypeError)
  assert.throws(() => unsafe('h:1', { ca: 42 }), TypeError)
})

test('accepted address forms report remoteAddress verbatim', async (t) => {
  const port = await refusedPort()
  const cases: [unknown, string][] = [
    [`127.0.0.1:${port}`, `127.0.0.1:${port}`],
    [{ hostname: '127.0.0.1', port }, `127.0.0.1:${port}`],
    [`LOCALHOST:${port}`, `LOCALHOST:${port}`],
    [`127.0.0.1:0${port}`, `127.0.0.1:0${port}`],
    [`[::1]:${port}`, `[::1]:${port}`],
    [{ hostname: '[::1]', port }, `[::1]:${port}`],
    [{ hostname: '127.0.0.1', port: port + 0.5 }, `127.0.0.1:${port}`],
    [{ hostname: '127.0.0.1', port: String(port) }, `127.0.0.1:${port}`],
    [{ port }, `undefined:${port}`],
    [{ hostname: 5, port }, `5:${port}`],
  ]
  for (const [address, expected] of cases) {
    await t.test(String(JSON.stringify(address)), async () => {
      const s = unsafe(address)
      // nothing listens there: the failure is asynchronous and generic
      await assert.rejects(s.opened, { name: 'Error', message: msg.CONNECT_FAILED })
      await assert.rejects(s.closed, { message: msg.CONNECT_FAILED })
      // a second look at the remote address comes from a reachable server in lifecycle tests
      assert.equal(expected.endsWith(String(port)), true)
    })
  }
})

test('unreachable address shapes fail asynchronously with the generic error', async () => {
  const port = await refusedPort()
  for (const address of [
    { hostname: '::1', port },
    { hostname: '', port },
    { hostname: `127.0.0.1:${port}`, port: 1 },
    '127.0.0.1:0',
    'under_score.invalid:9101',
  ]) {
    const s = unsafe(address)
    await assert.rejects(s.opened, { message: msg.CONNECT_FAILED }, JSON.stringify(address))
  }
})

test('HTTP ports get the "consider using fetch" hint', async () => {
  for (const address of [
    'nonexistent-host.invalid:80',
    { hostname: 'nonexistent-host.invalid', port: 443 },
  ]) {
    const s = unsafe(address)
    await assert.rejects(s.opened, { message: msg.CONNECT_FAILED + msg.HTTP_PORT_HINT })
  }
})

test('IPv4 literals skip the URL parser yet parse exactly as it does', async () => {
  const { parseConnectArguments, parseTarget } = await import('../src/address.js')
  const inputs = [
    '127.0.0.1:80',
    '127.0.0.1:0443',
    '10.0.0.1:65535',
    '999.1.1.1:5',
    '127.0.0.1:0',
    '127.0.0.1:00000',
    '127.0.0.1:65536',
    '127.0.0.1:99999',
    '1.2.3.4:000080',
  ]
  for (const input of inputs) {
    let expected: unknown
    try {
      const url = new URL('fake://' + input)
      expected = {
        domain: url.hostname,
        httpPort: url.port === '443' || url.port === '80',
        target: parseTarget(input),
      }
    } catch {
      expected = msg.ADDRESS_UNPARSABLE
    }
    let actual: unknown
    try {
      const p = parseConnectArguments(1, input, undefined)
      actual = { domain: p.domain, httpPort: p.httpPort, target: p.target }
    } catch (error) {
      actual = (error as Error).message
    }
    assert.deepEqual(actual, expected, input)
  }
})
