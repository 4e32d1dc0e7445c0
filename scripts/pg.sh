#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests and benchmarks: initdb into a temporary folder, run
# as the unprivileged `postgres` user (or the caller when not root), on its own port and socket.
#   scripts/pg.sh start DIR PORT   -> prints the postgres:// URL
#   scripts/pg.sh stop DIR
set -euo pipefail
cmd=$1 dir=$2
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (run scripts/deps.sh)" >&2; exit 1; }
as() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
start)
  port=$3
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as "$bindir/initdb" -D "$dir/data" -U tenax --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  as "$bindir/createdb" -h "$dir" -p "$port" -U tenax tenax 2>/dev/null || true
  echo "postgres://tenax@127.0.0.1:$port/tenax"
  ;;
stop)
  as "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
restart)
  as "$bindir/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
  ;;
*) echo "usage: pg.sh start DIR PORT | stop DIR | restart DIR" >&2; exit 2 ;;
esac
