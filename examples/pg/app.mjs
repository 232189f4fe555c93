// node-postgres (`pg`) through its Workers socket, pg-cloudflare, on Node, unmodified:
//
//   DATABASE_URL='postgres://user:password@db.example.com:5432/app?sslmode=verify-full' \
//     node --import @wharf/sockets/navigator --conditions=workerd app.mjs
//
// `--conditions=workerd` makes `pg-cloudflare` resolve to its Workers build, and
// `@wharf/sockets/navigator` makes pg take its Workers code path (it looks at
// navigator.userAgent) and resolves `cloudflare:sockets`. TLS certificates are always verified;
// trust a private CA with NODE_EXTRA_CA_CERTS=ca.pem. Prints one JSON line.
import pg from 'pg'

const client = new pg.Client({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/postgres',
})
await client.connect()
try {
  const tls = await client.query(
    'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
  )
  const rows = await client.query(
    'SELECT n, md5(n::text) AS hash FROM generate_series(1, $1::int) AS n',
    [Number(process.argv[2] ?? 3)]
  )
  console.log(
    JSON.stringify({
      // Which socket pg is using: CloudflareSocket means the Workers path, through Wharf.
      socket: client.connection.stream.constructor.name,
      ssl: tls.rows[0].ssl,
      tlsVersion: tls.rows[0].version,
      rows: rows.rows,
    })
  )
} finally {
  await client.end()
}
