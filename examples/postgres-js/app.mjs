// postgres.js (`postgres`) through its Workers build on Node, unmodified:
//
//   DATABASE_URL='postgres://user:password@db.example.com:5432/app?sslmode=require' \
//     node --import @wharf/sockets/register --conditions=workerd app.mjs
//
// `--conditions=workerd` selects postgres.js's Workers build (postgres/cf), which connects with
// `cloudflare:sockets`. With TLS the server's certificate is always verified (whatever `sslmode`
// says), as on Workers; trust a private CA with NODE_EXTRA_CA_CERTS=ca.pem. Prints one JSON line.
import postgres from 'postgres'

const sql = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@localhost:5432/postgres', {
  max: 1,
  connect_timeout: 10,
})
try {
  const [tls] = await sql`SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`
  const count = Number(process.argv[2] ?? 3)
  const rows = await sql`SELECT n, md5(n::text) AS hash FROM generate_series(1, ${count}::int) AS n`
  console.log(
    JSON.stringify({ ssl: tls.ssl, tlsVersion: tls.version, rows: rows.map((r) => ({ ...r })) })
  )
} finally {
  await sql.end({ timeout: 5 })
}
