// The workerd peer: a Worker that runs the shared scenarios with workerd's own connect() and
// returns its own timing. GET /run?scenario=recv&params=<json> → the scenario's JSON result.
// GET /hold?params=<json> streams "opened\n" once every socket is open and idle, keeps them for
// `holdMs`, then closes them and ends the body (the runner samples workerd's RSS meanwhile).
// workerd's clock only advances across I/O, which every timed section here performs.
import { connect } from 'cloudflare:sockets'
import { cfScenarios } from './cf-scenarios.js'

const scenarios = cfScenarios({ connect, opened: (s) => s.opened, now: () => Date.now() })

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url)
    const params = JSON.parse(url.searchParams.get('params') ?? '{}')
    try {
      if (url.pathname === '/run') {
        const run = scenarios[url.searchParams.get('scenario') ?? '']
        if (!run) return new Response('unknown scenario', { status: 404 })
        return Response.json(await run(params))
      }
      if (url.pathname === '/hold') {
        const { readable, writable } = new TransformStream()
        const writer = writable.getWriter()
        const encoder = new TextEncoder()
        ctx.waitUntil(
          (async () => {
            try {
              const release = await scenarios.hold(params)
              await writer.write(encoder.encode('opened\n'))
              await new Promise((resolve) => setTimeout(resolve, params.holdMs ?? 1000))
              await release()
              await writer.write(encoder.encode('released\n'))
            } catch (error) {
              await writer.write(encoder.encode(`error ${String(error)}\n`))
            } finally {
              await writer.close()
            }
          })()
        )
        return new Response(readable)
      }
      return new Response('not found', { status: 404 })
    } catch (error) {
      return new Response(String(error?.stack ?? error), { status: 500 })
    }
  },
}
