// The HTTP front: GET /?key=K reads a key, GET /?key=K&value=V sets it, by speaking the Redis
// protocol to the kv Worker over a socket from its service binding (env.KV.connect()).
const enc = new TextEncoder()
const dec = new TextDecoder()

const command = (...args) =>
  `*${args.length}\r\n${args.map((a) => `$${enc.encode(a).length}\r\n${a}\r\n`).join('')}`

/** Reads one RESP reply (a simple line, or a bulk string with its payload). */
async function reply(reader) {
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text
    text += dec.decode(value, { stream: true })
    const line = text.indexOf('\r\n')
    if (line < 0) continue
    if (text[0] !== '$') return text.slice(text[0] === '+' ? 1 : 0, line)
    const length = Number(text.slice(1, line))
    if (length < 0) return null
    if (text.length >= line + 2 + length + 2) return text.slice(line + 2, line + 2 + length)
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const key = url.searchParams.get('key')
    if (key === null) return new Response('try /?key=greeting&value=hello, then /?key=greeting\n')
    const value = url.searchParams.get('value')
    const socket = env.KV.connect('kv.internal:6379')
    const writer = socket.writable.getWriter()
    const reader = socket.readable.getReader()
    try {
      const opened = await socket.opened
      await writer.write(
        enc.encode(value === null ? command('GET', key) : command('SET', key, value))
      )
      return Response.json({ key, reply: await reply(reader), via: opened.remoteAddress })
    } finally {
      await socket.close()
    }
  },
}
