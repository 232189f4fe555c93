/// <reference types="@wharf/sockets/ambient" />
import { connect } from 'cloudflare:sockets'

interface Env {
  ECHO: string
  GREETING: string
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    const message = url.searchParams.get('say') ?? env.GREETING

    const socket = connect(env.ECHO)
    const writer = socket.writable.getWriter()
    await writer.write(new TextEncoder().encode(message + '\n'))

    // Read until the echoed line is complete.
    const reader = socket.readable.getReader()
    const decoder = new TextDecoder()
    let echoed = ''
    while (!echoed.endsWith('\n')) {
      const { value, done } = await reader.read()
      if (done) break
      echoed += decoder.decode(value, { stream: true })
    }
    const info = await socket.opened
    await socket.close()

    return Response.json({
      sent: message,
      echoed: echoed.trimEnd(),
      remoteAddress: info.remoteAddress,
    })
  },
}
