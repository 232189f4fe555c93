// A Worker using pg over a Hyperdrive binding, as on Cloudflare: connect with the binding's
// connection string, query, answer JSON. Repeated reads are answered by Hyperdrive's cache.
import { Client } from 'pg'

interface Env {
  HYPERDRIVE: Hyperdrive
}

interface Hyperdrive {
  readonly connectionString: string
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname !== '/') return new Response('not found\n', { status: 404 })
    const client = new Client({ connectionString: env.HYPERDRIVE.connectionString })
    await client.connect()
    try {
      // No parameters: pg sends a simple Query, which the pooler's cache answers on a repeat.
      const result = await client.query('SELECT id, name, price_cents FROM products ORDER BY id')
      return Response.json({ products: result.rows })
    } catch (error) {
      return Response.json({ error: (error as Error).message }, { status: 500 })
    } finally {
      await client.end()
    }
  },
}
