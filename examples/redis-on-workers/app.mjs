// redis-on-workers (a Redis client written for Cloudflare Workers) on Node, unmodified:
//
//   REDIS_URL=redis://:password@127.0.0.1:6379 node --import @wharf/sockets/register app.mjs
//
// `rediss://` connects with TLS; the server's certificate is verified (trust a private CA with
// NODE_EXTRA_CA_CERTS=ca.pem). Prints one JSON line: what was written and read back.
import { createRedis } from 'redis-on-workers'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const key = process.argv[2] ?? 'wharf:greeting'
const value = process.argv[3] ?? `hello from Node ${process.version}`

const redis = createRedis(url)
try {
  await redis.send('SET', key, value)
  const readBack = await redis.send('GET', key)
  const hits = await redis.send('INCR', `${key}:hits`)
  // CLIENT INFO is the server's view of this connection: `laddr` is the port it came in on.
  const info = String(await redis.send('CLIENT', 'INFO'))
  const serverPort = Number(/laddr=\S+:(\d+)/.exec(info)?.[1])
  console.log(JSON.stringify({ key, value: readBack, hits, serverPort }))
} finally {
  await redis.close()
}
