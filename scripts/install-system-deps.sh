#!/usr/bin/env bash
# Installs the Debian packages the integration tests talk to (real servers, never mocks):
# PostgreSQL (server, pgbench), PgBouncer (benchmark peer), Redis, openssl (test PKI),
# MariaDB (server and client, for the MySQL pooler), sysbench (its benchmark), HAProxy (the
# benchmarks' do-nothing TCP relay, the ceiling of any proxy), bubblewrap
# (the Worker runtime's sandbox) and Chromium (headless, for wharf serve's operator page).
# Safe to run again: it installs only what is missing. Needs root for apt-get.
set -euo pipefail

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v pgbench >/dev/null || missing+=(postgresql-contrib)
command -v runuser >/dev/null || missing+=(util-linux)
[ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v mariadb >/dev/null || missing+=(mariadb-client)
command -v sysbench >/dev/null || missing+=(sysbench)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v bwrap >/dev/null || missing+=(bubblewrap)
# Headless browser for the wharf serve operator page test.
command -v chromium >/dev/null || missing+=(chromium)
# The tunnel's private-network test makes its own network namespace and veth pair.
command -v ip >/dev/null || missing+=(iproute2)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system deps: missing ${missing[*]}; run this script as root (apt-get) or install them yourself" >&2
  exit 1
fi
echo "system deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Don't let package scripts start services: tests start their own servers on loopback.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
rm -f /usr/sbin/policy-rc.d
echo "system deps: installed"
