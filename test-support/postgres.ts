// A real PostgreSQL for tests (Debian's server in a temporary cluster on a free loopback port,
// SCRAM passwords, optional TLS with the test PKI). The implementation lives with the driver tests,
// which were first to need it; pooler tests use it from here.
export {
  startPostgres,
  type PostgresServer,
} from '../packages/sockets/test/drivers/postgres-server.js'
