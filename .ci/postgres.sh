#!/usr/bin/env bash
# Install Debian's PostgreSQL and start it on loopback for the hit-store tests.
# Exports nothing: tests find the server through TRAILMATCH_TEST_PG (written to .ci/pg-url).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
DATA=/tmp/trailmatch-ci-pg
PORT=${TRAILMATCH_PG_PORT:-54329}
if ! su postgres -c "$PGBIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"; chown postgres "$DATA"
  su postgres -c "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null
  su postgres -c "$PGBIN/pg_ctl -D $DATA -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1' -l $DATA/log -w start" >/dev/null
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres" > .ci/pg-url
echo "ci: PostgreSQL on 127.0.0.1:$PORT"
