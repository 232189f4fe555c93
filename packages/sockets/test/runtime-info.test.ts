// The runtime's `info` term: a socket the runtime hands in (a connect() handler's) reports the
// addresses the runtime gives, with both keys present as workerd has them, instead of
// `{ remoteAddress: <address>, localAddress: undefined }`.
import assert from 'node:assert/strict'
import net from 'node:net'
import { afterEach, describe, it } from 'node:test'
import { connect } from '../src/index.js'
import { setSocketRuntime } from '../src/runtime.js'
import { echoServer } from '../../../test-support/servers.js'

afterEach(() => setSocketRuntime(undefined))

describe('SocketTerms.info', () => {
  it('replaces what opened resolves to, and the socket still carries bytes', async () => {
    const echo = await echoServer()
    try {
      setSocketRuntime({
        admit: () => ({
          info: { remoteAddress: undefined, localAddress: 'kv.internal:6379' },
          dial: () =>
            new Promise<net.Socket>((resolve, reject) => {
              const s = net.connect({ host: '127.0.0.1', port: echo.port })
              s.once('connect', () => resolve(s))
              s.once('error', reject)
            }),
        }),
      })
      const socket = connect('placeholder.invalid:1')
      const info = await socket.opened
      assert.deepEqual(Object.keys(info), ['remoteAddress', 'localAddress'])
      assert.equal(info.remoteAddress, undefined)
      assert.equal(info.localAddress, 'kv.internal:6379')
      const writer = socket.writable.getWriter()
      await writer.write(new TextEncoder().encode('ping'))
      const { value } = await socket.readable.getReader().read()
      assert.equal(new TextDecoder().decode(value), 'ping')
      await socket.close()
    } finally {
      await echo.close()
    }
  })

  it('without it, opened reports the address as given (the default is unchanged)', async () => {
    const echo = await echoServer()
    try {
      const socket = connect(`127.0.0.1:${echo.port}`)
      const info = await socket.opened
      assert.deepEqual(info, { remoteAddress: `127.0.0.1:${echo.port}`, localAddress: undefined })
      await socket.close()
    } finally {
      await echo.close()
    }
  })
})
