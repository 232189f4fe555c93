// The benchmark's Worker: one socket per request, one round trip, close.
import { connect } from 'cloudflare:sockets'

const ping = new TextEncoder().encode('ping')

export default {
  async fetch(request, env) {
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
    return new Response('pong')
  },
}
