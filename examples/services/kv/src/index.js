// A tiny Redis-protocol server written as a Worker: its connect() handler serves RESP (arrays, as
// redis-cli and ioredis send them, or inline commands) for PING, ECHO, SET, GET, DEL and QUIT.
// It is reached through a service binding (the gateway's env.KV.connect()) and, through
// wharf.tcp, by any Redis client on port 6380.

/** Keys live in this runtime process's memory: shared by its connections, lost on restart. */
const store = new Map()
const MAX_KEYS = 10_000
const MAX_BUFFERED = 1 << 20

const enc = new TextEncoder()
const dec = new TextDecoder()

const simple = (s) => `+${s}\r\n`
const error = (s) => `-ERR ${s}\r\n`
const bulk = (s) => (s === undefined ? '$-1\r\n' : `$${enc.encode(s).length}\r\n${s}\r\n`)
const integer = (n) => `:${n}\r\n`

/** One command from the front of `text`: [args, rest], or undefined if incomplete. */
function parse(text) {
  if (text.startsWith('*')) {
    let at = text.indexOf('\r\n')
    if (at < 0) return undefined
    const count = Number(text.slice(1, at))
    if (!Number.isInteger(count) || count < 0 || count > 64) throw new Error('bad array')
    let pos = at + 2
    const args = []
    for (let i = 0; i < count; i++) {
      at = text.indexOf('\r\n', pos)
      if (at < 0) return undefined
      if (text[pos] !== '$') throw new Error('expected a bulk string')
      const length = Number(text.slice(pos + 1, at))
      if (!Number.isInteger(length) || length < 0 || length > MAX_BUFFERED)
        throw new Error('bad length')
      // Lengths are bytes; this server keeps to ASCII values, where bytes and characters agree.
      if (text.length < at + 2 + length + 2) return undefined
      args.push(text.slice(at + 2, at + 2 + length))
      pos = at + 2 + length + 2
    }
    return [args, text.slice(pos)]
  }
  const at = text.indexOf('\n')
  if (at < 0) return undefined
  return [text.slice(0, at).trim().split(/\s+/).filter(Boolean), text.slice(at + 1)]
}

function run([name = '', ...args]) {
  switch (name.toUpperCase()) {
    case 'PING':
      return args.length > 0 ? bulk(args[0]) : simple('PONG')
    case 'ECHO':
      return bulk(args[0] ?? '')
    case 'SET':
      if (args.length < 2) return error("wrong number of arguments for 'set' command")
      if (!store.has(args[0]) && store.size >= MAX_KEYS) return error('too many keys')
      store.set(args[0], args[1])
      return simple('OK')
    case 'GET':
      return bulk(store.get(args[0]))
    case 'DEL':
      return integer(args.filter((k) => store.delete(k)).length)
    case 'COMMAND':
    case 'CLIENT':
    case 'INFO':
      return simple('OK')
    default:
      return error(`unknown command '${name}'`)
  }
}

export default {
  fetch() {
    return new Response('this Worker speaks the Redis protocol on its connect() handler\n')
  },
  async connect(socket) {
    const reader = socket.readable.getReader()
    const writer = socket.writable.getWriter()
    let buffered = ''
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffered += dec.decode(value, { stream: true })
        if (buffered.length > MAX_BUFFERED) throw new Error('command too long')
        let parsed
        while ((parsed = parse(buffered)) !== undefined) {
          const [args, rest] = parsed
          buffered = rest
          if (args.length === 0) continue
          if (args[0].toUpperCase() === 'QUIT') {
            await writer.write(enc.encode(simple('OK')))
            return
          }
          await writer.write(enc.encode(run(args)))
        }
      }
    } catch (e) {
      await writer.write(enc.encode(error(e.message))).catch(() => {})
    } finally {
      await socket.close()
    }
  },
}
