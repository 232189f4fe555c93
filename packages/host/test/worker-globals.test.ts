// The Cache API under wharf: it caches nothing, as on a workers.dev route (every lookup misses),
// and checks its arguments as workerd does. (workerd without a configured cache throws "No Cache
// was configured" instead, so this is not compared with it; the other globals are, in
// workerd-shape.test.ts.) And web streams, which as on workerd cannot be transferred.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { get, startWharf, tempProject, type Wharf } from './helpers.js'

const WORKER = `
async function outcome(run) {
  try {
    return String(await run())
  } catch (error) {
    return \`\${error.name}: \${error.message}\`
  }
}
export default {
  async fetch() {
    const key = new Request('http://cache.test/a')
    const response = new Response('stored?', { headers: { 'cache-control': 'max-age=60' } })
    return Response.json({
      put: await outcome(() => caches.default.put(key, response)),
      bodyUsed: response.bodyUsed,
      match: await outcome(() => caches.default.match(key)),
      matchByString: await outcome(() => caches.default.match('http://cache.test/a')),
      delete: await outcome(() => caches.default.delete(key)),
      putPost: await outcome(() =>
        caches.default.put(new Request('http://cache.test/p', { method: 'POST' }), new Response('x'))
      ),
      badUrl: await outcome(() => caches.default.match('not a url')),
      sameNamed: (await caches.open('n')) === (await caches.open('n')),
      namedMiss: await outcome(async () => (await caches.open('n')).match(key)),
      waited: await outcome(async () => {
        const started = Date.now()
        await scheduler.wait(30)
        return Date.now() - started >= 25
      }),
      transfer: await outcome(() => {
        const stream = new ReadableStream()
        structuredClone(stream, { transfer: [stream] })
        return stream.locked
      }),
      streamsWork: await outcome(async () => {
        const body = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('through'))
            c.close()
          },
        })
        const piped = body.pipeThrough(new TextDecoderStream()).pipeThrough(new TransformStream())
        let text = ''
        for await (const chunk of piped) text += chunk
        return text + ' ' + (await new Response(text).text())
      }),
    })
  },
}
`

describe('wharf dev: caches and scheduler', () => {
  let wharf: Wharf
  const project = tempProject({
    'worker.js': WORKER,
    'wrangler.json': JSON.stringify({ main: 'worker.js', compatibility_date: '2025-10-08' }),
  })
  before(async () => {
    wharf = await startWharf(project.dir, ['--no-watch'])
  })
  after(async () => {
    await wharf.stop()
    project.remove()
  })

  it('caches nothing, reads what put() was given, and refuses what workerd refuses', async () => {
    assert.deepEqual(JSON.parse((await get(`${wharf.url}/`)).body), {
      put: 'undefined',
      bodyUsed: true,
      match: 'undefined',
      matchByString: 'undefined',
      delete: 'false',
      putPost: 'TypeError: Cannot cache response to non-GET request.',
      badUrl: 'TypeError: Invalid URL: not a url',
      sameNamed: true,
      namedMiss: 'undefined',
      waited: 'true',
      // workerd cannot transfer a stream; on Node 20 neither can the runtime (its streams skip
      // Node 20's transferable copy), on Node 22+ Node's transfer still runs.
      transfer:
        Number(process.versions.node.split('.')[0]) === 20
          ? 'TypeError: Found invalid object in transferList'
          : 'true',
      streamsWork: 'through through',
    })
  })
})
