// The soak's Worker: what a real one does on every request. /echo opens a socket, does one
// round trip and closes it; /read and /write use node-postgres through the Hyperdrive binding
// (a new client per request, as Workers do); a write answers the value it wrote, so the driver
// can check that the next read through the cache sees it.
import { connect } from 'cloudflare:sockets'
import pg from 'pg'

const ping = new TextEncoder().encode('ping-soak-16byte')

async function echo(env) {
  const socket = connect(env.ECHO)
  const writer = socket.writable.getWriter()
  await writer.write(ping)
  const reader = socket.readable.getReader()
  let got = 0
  while (got < ping.byteLength) {
    const { value, done } = await reader.read()
    if (done) break
    got += value.byteLength
  }
  await socket.close()
  return new Response(got === ping.byteLength ? 'pong' : 'short', {
    status: got === ping.byteLength ? 200 : 502,
  })
}

async function withClient(env, run) {
  const client = new pg.Client({ connectionString: env.DB.connectionString })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const id = Number(url.searchParams.get('id') ?? '1')
    switch (url.pathname) {
      case '/echo':
        return echo(env)
      case '/read':
        return withClient(env, async (c) => {
          const r = await c.query('SELECT name FROM soak_items WHERE id = $1', [id])
          return new Response(r.rows[0]?.name ?? '')
        })
      case '/write':
        return withClient(env, async (c) => {
          const name = `w${Date.now()}-${Math.random().toString(36).slice(2, 8)}`
          await c.query('UPDATE soak_items SET name = $2 WHERE id = $1', [id, name])
          return new Response(name)
        })
      default:
        return new Response('not found', { status: 404 })
    }
  },
}
