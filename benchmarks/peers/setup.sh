#!/usr/bin/env bash
# Install what the PostGIS peer needs (Debian's PostgreSQL 15 + PostGIS 3). The benchmark
# starts and stops its own server on 127.0.0.1; without these packages it skips PostGIS and
# says so in the table. The Python peers come with `pip install -e ".[bench]"`.
set -euo pipefail
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql-15-postgis-3 >/dev/null
fi
echo "peers: PostGIS available"
