import assert from 'node:assert/strict'
import { once } from 'node:events'
import tls from 'node:tls'
import { after, before, describe, test } from 'node:test'
import { HOSTILE, resolve } from '../../../test-support/hostile-destinations.js'
import {
  echoServer,
  loopbackPair,
  tcpServer,
  type TestServer,
} from '../../../test-support/servers.js'
import { testPki } from '../../../test-support/certs.js'
import { proof } from '../src/auth.js'
import { encode, FrameReader, type Message } from '../src/frames.js'
import {
  TunnelConnector,
  TunnelEdge,
  formatToken,
  newToken,
  parseIngress,
  parseToken,
  resolveTarget,
} from '../src/index.js'
import { loopbackTunnel, readAll, writeStream, type LoopbackTunnel } from './helpers.js'

const waitFor = async (check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function roundTrip(socket: tls.TLSSocket, text: string): Promise<string> {
  socket.resume()
  socket.write(text)
  const [data] = (await Promise.race([
    once(socket, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('no echo within 5 s')), 5_000)),
  ])) as [Buffer]
  return data.toString()
}

describe('tokens', () => {
  test('round trip, and malformed tokens are refused with ERR_TUNNEL_TOKEN', () => {
    const token = newToken('office', 'k2')
    const parsed = parseToken(formatToken(token))
    assert.equal(parsed.tunnel, 'office')
    assert.equal(parsed.key, 'k2')
    assert.ok(parsed.secret.equals(token.secret))
    for (const bad of [
      '',
      'wharf-tunnel-1.office.k1',
      `wharf-tunnel-2.office.k1.${token.secret.toString('base64url')}`,
      `wharf-tunnel-1.off ice.k1.${token.secret.toString('base64url')}`,
      'wharf-tunnel-1.office.k1.c2hvcnQ',
      'wharf-tunnel-1.office.k1.not*base64',
    ]) {
      assert.throws(() => parseToken(bad), { code: 'ERR_TUNNEL_TOKEN' }, bad)
    }
  })
})

describe('ingress rules (enforced by the connector after its own DNS lookup)', () => {
  const rules = parseIngress([
    { host: '10.9.0.5', port: 5432 },
    { cidr: '10.9.1.0/24', ports: '8000-8080' },
    { hostname: 'db.internal', port: 5432 },
    { cidr: 'fd00:9::/64', port: 22 },
  ])
  const lookup = (answers: Record<string, string[]>) => (name: string) =>
    Promise.resolve(
      (answers[name] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    )

  test('allows exactly what the rules name', async () => {
    const none = lookup({})
    assert.equal((await resolveTarget(rules, '10.9.0.5', 5432, none)).address, '10.9.0.5')
    assert.equal(
      (await resolveTarget(rules, '10.9.1.77', 8080, none)).rule,
      '10.9.1.0/24:8000-8080'
    )
    assert.equal((await resolveTarget(rules, '[fd00:9::1]', 22, none)).address, 'fd00:9::1')
    assert.equal((await resolveTarget(rules, '::ffff:10.9.0.5', 5432, none)).address, '10.9.0.5')
    const named = await resolveTarget(
      rules,
      'DB.internal.',
      5432,
      lookup({ 'db.internal': ['10.200.0.9'] })
    )
    assert.deepEqual([named.address, named.rule], ['10.200.0.9', 'db.internal:5432'])
  })

  test('refuses everything else, including names that resolve outside the rules', async () => {
    const evil = lookup({ 'evil.example': ['127.0.0.1'], 'sneaky.example': ['10.9.1.5'] })
    for (const [host, port] of [
      ['10.9.0.5', 5433],
      ['10.9.0.6', 5432],
      ['10.9.1.77', 8081],
      ['127.0.0.1', 5432],
      ['db.internal', 5433],
      ['evil.example', 5432],
      ['sneaky.example', 9000],
      ['0x7f.0.0.1', 5432],
      ['db.internal\u0000x', 5432],
      ['', 5432],
      ['10.9.0.5', 0],
      ['10.9.0.5', 70000],
    ] as const) {
      await assert.rejects(
        resolveTarget(rules, host, port, evil),
        { code: 'ERR_TUNNEL_INGRESS_DENIED' },
        `${host}:${port}`
      )
    }
    // A name resolving into an allowed range is allowed there (the check is on the answer).
    assert.equal((await resolveTarget(rules, 'sneaky.example', 8000, evil)).address, '10.9.1.5')
  })

  test('bad rules are refused with the rule named', () => {
    for (const bad of [
      [{ host: 'db.internal', port: 1 }],
      [{ cidr: '10.0.0.0/33', port: 1 }],
      [{ hostname: '10.0.0.1', port: 1 }],
      [{ host: '10.0.0.1' }],
      [{ host: '10.0.0.1', port: 1, ports: '1-2' }],
      [{ host: '10.0.0.1', cidr: '10.0.0.0/8', port: 1 }],
      [{ cidr: '10.0.0.0/8', ports: '9-1' }],
      'nope',
    ]) {
      assert.throws(() => parseIngress(bad), { code: 'ERR_TUNNEL_CONFIG' }, JSON.stringify(bad))
    }
  })
})

describe('tunnel over loopback', () => {
  let tunnel: LoopbackTunnel
  let echo: TestServer
  before(async () => {
    tunnel = await loopbackTunnel()
    echo = await echoServer()
  })
  after(async () => {
    await tunnel.close()
    await echo.close()
  })

  test('a flow reaches an allowed service; 64 MiB arrive intact (SHA-256)', async () => {
    const connector = tunnel.connector([{ host: '127.0.0.1', port: echo.port }])
    await connector.connected()
    const flow = await tunnel.edge.openFlow('office', '127.0.0.1', echo.port)
    assert.equal(await roundTrip(flow, 'hello'), 'hello')
    flow.removeAllListeners('data')
    const [sent, received] = await Promise.all([writeStream(flow, 64 * 1024 * 1024), readAll(flow)])
    assert.equal(received.bytes, 64 * 1024 * 1024 + 0)
    assert.equal(received.sha256, sent)
    flow.destroy()
    connector.stop()
    await waitFor(() => tunnel.edge.liveConnectors('office') === 0, 'the connector to leave')
  })

  test('the connector refuses a target outside its rules; the edge gets the reason; nothing is dialled', async () => {
    const counting = await tcpServer(() => undefined)
    const connector = tunnel.connector([{ host: '127.0.0.1', port: echo.port }])
    await connector.connected()
    await assert.rejects(
      tunnel.edge.openFlow('office', '127.0.0.1', counting.port),
      (error: Error) => {
        assert.equal((error as { code?: string }).code, 'ERR_TUNNEL_FLOW')
        assert.match(error.message, /ingress rules do not allow/)
        return true
      }
    )
    assert.equal(counting.connections, 0)
    await counting.close()
    connector.stop()
    await waitFor(() => tunnel.edge.liveConnectors('office') === 0, 'the connector to leave')
  })

  test('no connector: a clear ERR_TUNNEL_UNAVAILABLE; unknown tunnel likewise', async () => {
    await assert.rejects(tunnel.edge.openFlow('office', '127.0.0.1', echo.port), {
      code: 'ERR_TUNNEL_UNAVAILABLE',
    })
    await assert.rejects(tunnel.edge.openFlow('elsewhere', '127.0.0.1', echo.port), {
      code: 'ERR_TUNNEL_UNAVAILABLE',
    })
  })

  test('a wrong secret and an unknown key are refused, and the edge logs why', async () => {
    const wrong = { ...tunnel.token, secret: Buffer.alloc(32, 7) }
    const bad = tunnel.connector([], { token: formatToken(wrong) })
    const unknown = tunnel.connector([], { token: formatToken({ ...tunnel.token, key: 'k9' }) })
    await waitFor(
      () => tunnel.lines.filter((l) => l.includes('refused a connector')).length >= 2,
      'two refusals'
    )
    assert.equal(tunnel.edge.liveConnectors('office'), 0)
    assert.ok(tunnel.lines.some((l) => l.includes('wrong proof for office/k1')))
    assert.ok(tunnel.lines.some((l) => l.includes('unknown tunnel or key office/k9')))
    bad.stop()
    unknown.stop()
  })

  test('a stale key (rotated out, or past notAfter) is refused; the new key works', async () => {
    const fresh = newToken('office', 'k2')
    tunnel.edge.setTunnels([
      {
        id: 'office',
        keys: [
          {
            id: tunnel.token.key,
            secret: tunnel.token.secret.toString('base64url'),
            notAfter: '2000-01-01T00:00:00Z',
          },
          { id: 'k2', secret: fresh.secret.toString('base64url') },
        ],
      },
    ])
    try {
      const stale = tunnel.connector([])
      await waitFor(
        () => tunnel.lines.some((l) => l.includes('stale key office/k1')),
        'the stale refusal'
      )
      stale.stop()
      const current = tunnel.connector([{ host: '127.0.0.1', port: echo.port }], {
        token: formatToken(fresh),
      })
      await current.connected()
      const flow = await tunnel.edge.openFlow('office', '127.0.0.1', echo.port)
      assert.equal(await roundTrip(flow, 'rotated'), 'rotated')
      flow.destroy()
      current.stop()
      await waitFor(() => tunnel.edge.liveConnectors('office') === 0, 'the connector to leave')
    } finally {
      tunnel.edge.setTunnels([
        {
          id: 'office',
          keys: [{ id: tunnel.token.key, secret: tunnel.token.secret.toString('base64url') }],
        },
      ])
    }
  })

  test('a replayed handshake is refused: the edge never reuses its nonce', async () => {
    const dial = async (): Promise<{ socket: tls.TLSSocket; next: () => Promise<Message> }> => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: tunnel.edge.address.port,
        ca: tunnel.ca,
        servername: 'localhost',
      })
      socket.on('error', () => undefined)
      const queue: Message[] = []
      const waiters: ((m: Message) => void)[] = []
      new FrameReader(
        socket,
        (m) => (waiters.shift() ?? ((x: Message) => queue.push(x)))(m),
        () => undefined
      )
      const next = (): Promise<Message> =>
        new Promise((resolve, reject) => {
          const queued = queue.shift()
          if (queued !== undefined) return resolve(queued)
          waiters.push(resolve)
          setTimeout(() => reject(new Error('no message within 5 s')), 5_000)
        })
      await once(socket, 'secureConnect')
      return { socket, next }
    }
    const first = await dial()
    const challenge = await first.next()
    const fields = {
      tunnel: 'office',
      key: tunnel.token.key,
      role: 'control' as const,
      flow: 0,
      session: '',
      edgeNonce: String(challenge.nonce),
      connectorNonce: 'A'.repeat(43),
    }
    const hello = encode({
      t: 'hello',
      tunnel: 'office',
      key: tunnel.token.key,
      role: 'control',
      nonce: fields.connectorNonce,
      proof: proof(tunnel.token.secret, 'connector', fields),
    })
    first.socket.write(hello)
    assert.equal((await first.next()).t, 'welcome', 'the genuine handshake is accepted')
    first.socket.destroy()
    const second = await dial()
    assert.equal((await second.next()).t, 'challenge')
    second.socket.write(hello)
    const answer = await second.next()
    assert.deepEqual([answer.t, answer.code], ['error', 'ERR_TUNNEL_AUTH'])
    second.socket.destroy()
  })

  test('two connectors form one tunnel: killing one fails only its flows, new flows succeed within a second', async () => {
    const a = tunnel.connector([{ host: '127.0.0.1', port: echo.port }])
    const b = tunnel.connector([{ host: '127.0.0.1', port: echo.port }])
    await Promise.all([a.connected(), b.connected()])
    await waitFor(() => tunnel.edge.liveConnectors('office') === 2, 'two live connectors')
    const flows = await Promise.all(
      [0, 1, 2, 3].map(() => tunnel.edge.openFlow('office', '127.0.0.1', echo.port))
    )
    for (const f of flows) assert.equal(await roundTrip(f, 'x'), 'x')
    const closedFlows = flows.map(
      (f) => new Promise<boolean>((resolve) => f.once('close', () => resolve(true)))
    )
    // Flows alternate between the two connectors; stopping `a` ends exactly its two.
    a.stop()
    await waitFor(() => tunnel.edge.liveConnectors('office') === 1, 'one live connector', 1_000)
    const started = Date.now()
    const fresh = await tunnel.edge.openFlow('office', '127.0.0.1', echo.port)
    assert.equal(await roundTrip(fresh, 'y'), 'y')
    assert.ok(Date.now() - started < 1_000, 'a new flow succeeds within a second')
    // b's flows still work.
    let alive = 0
    for (const f of flows) {
      if (f.destroyed) continue
      try {
        if ((await roundTrip(f, 'z')) === 'z') alive++
      } catch {
        // a's flows are gone
      }
    }
    assert.ok(alive >= 2, `b's flows keep working (${alive})`)
    for (const f of [...flows, fresh]) f.destroy()
    await Promise.all(closedFlows)
    b.stop()
    await waitFor(() => tunnel.edge.liveConnectors('office') === 0, 'the connectors to leave')
  })
})

describe('a hostile edge', () => {
  test('cannot make the connector reach a target outside its rules', async () => {
    const pki = testPki()
    const token = newToken('office')
    const counting = await tcpServer(() => undefined)
    const allowed = await echoServer()
    const pair = await loopbackPair()
    const refusals: Message[] = []
    // An edge that knows the secret (it is compromised) and asks for denied targets.
    const server = tls.createServer(
      { cert: pki.localhost.cert, key: pki.localhost.key },
      (socket) => {
        socket.on('error', () => undefined)
        const nonce = 'N'.repeat(43)
        socket.write(encode({ t: 'challenge', v: 1, nonce }))
        new FrameReader(
          socket,
          (m) => {
            if (m.t === 'hello') {
              const fields = {
                tunnel: 'office',
                key: token.key,
                role: 'control' as const,
                flow: 0,
                session: 'S',
                edgeNonce: nonce,
                connectorNonce: String(m.nonce),
              }
              socket.write(
                encode({ t: 'welcome', session: 'S', proof: proof(token.secret, 'edge', fields) })
              )
              for (const [flow, host, port] of [
                [1, '127.0.0.1', counting.port],
                [2, 'localhost', counting.port],
                [3, '::1', counting.port],
                [4, '127.0.0.2', allowed.port],
              ] as const) {
                socket.write(encode({ t: 'open', flow, host, port }))
              }
              // Every hostile spelling of the egress suite, aimed at a loopback pair that no
              // rule names (IPv4 and IPv6), answered by the suite's hostile DNS.
              HOSTILE.forEach((host, i) => {
                socket.write(encode({ t: 'open', flow: 100 + i, host, port: pair.port }))
              })
            } else if (m.t === 'refuse') refusals.push(m)
          },
          () => undefined
        )
      }
    )
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const connector = new TunnelConnector({
      edge: `localhost:${port}`,
      token: formatToken(token),
      ingress: [{ host: '127.0.0.1', port: allowed.port }],
      ca: pki.ca,
      lookup: resolve,
      lookupTimeoutMs: 500,
      log: () => undefined,
    }).start()
    await connector.connected()
    // hang.test's lookup never answers: bounded by lookupTimeoutMs, it is refused too.
    await waitFor(
      () => refusals.length === 4 + HOSTILE.length,
      `${4 + HOSTILE.length} refusals (got ${refusals.length}: missing ${HOSTILE.filter((_, i) => !refusals.some((r) => r.flow === 100 + i)).join(' | ')})`,
      10_000
    )
    assert.deepEqual(pair.hits, { v4: 0, v6: 0 }, 'no hostile spelling reached loopback')
    assert.deepEqual(
      [...new Set(refusals.slice(4).map((r) => r.code))],
      ['ERR_TUNNEL_INGRESS_DENIED']
    )
    assert.deepEqual(
      refusals.slice(0, 4).map((r) => r.code),
      [
        'ERR_TUNNEL_INGRESS_DENIED',
        'ERR_TUNNEL_INGRESS_DENIED',
        'ERR_TUNNEL_INGRESS_DENIED',
        'ERR_TUNNEL_INGRESS_DENIED',
      ]
    )
    assert.equal(counting.connections, 0, 'the denied service saw nothing')
    assert.equal(allowed.connections, 0, 'a different address with an allowed port is still denied')
    connector.stop()
    server.close()
    await counting.close()
    await allowed.close()
    await pair.close()
  })

  test('an edge that cannot prove the secret is not trusted, even with a valid certificate', async () => {
    const pki = testPki()
    const token = newToken('office')
    const opened: number[] = []
    const server = tls.createServer(
      { cert: pki.localhost.cert, key: pki.localhost.key },
      (socket) => {
        socket.on('error', () => undefined)
        socket.write(encode({ t: 'challenge', v: 1, nonce: 'N'.repeat(43) }))
        new FrameReader(
          socket,
          (m) => {
            if (m.t === 'hello') {
              socket.write(encode({ t: 'welcome', session: 'S', proof: 'forged' }))
              socket.write(encode({ t: 'open', flow: 1, host: '127.0.0.1', port: 1 }))
              opened.push(1)
            }
          },
          () => undefined
        )
      }
    )
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const lines: string[] = []
    const connector = new TunnelConnector({
      edge: `localhost:${(server.address() as { port: number }).port}`,
      token: formatToken(token),
      ingress: [],
      ca: pki.ca,
      log: (l) => lines.push(l),
    }).start()
    await waitFor(() => lines.some((l) => l.includes('could not prove')), 'the refusal of the edge')
    assert.notEqual(connector.state, 'connected')
    connector.stop()
    server.close()
  })

  test('an edge with a certificate the connector does not trust is never spoken to', async () => {
    const pki = testPki()
    const lines: string[] = []
    const edge = await TunnelEdge.start({
      cert: pki.untrusted.cert,
      key: pki.untrusted.key,
      tunnels: [],
      log: () => undefined,
    })
    const connector = new TunnelConnector({
      edge: `localhost:${edge.address.port}`,
      token: formatToken(newToken('office')),
      ingress: [],
      ca: pki.ca,
      log: (l) => lines.push(l),
    }).start()
    await waitFor(
      () => lines.some((l) => /self.signed|unable to verify|certificate/i.test(l)),
      'a certificate error'
    )
    assert.notEqual(connector.state, 'connected')
    connector.stop()
    await edge.close()
  })
})
