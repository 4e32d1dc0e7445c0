#!/usr/bin/env bash
# Runs a command next to a throw-away PostgreSQL server of its own (scripts/pg.sh on a free
# port in a fresh temporary folder), then stops the server and removes the folder. Exports
#   TX_TEST_PG_URL      postgres://… of the server's `tenax` database
#   TX_TEST_PG_DIR      the server's folder (for `scripts/pg.sh restart|stop DIR`)
#   TX_TEST_PG_SH       the path of scripts/pg.sh
#   TX_TEST_STORE_URLS  the URL with ?schema=tx_{} (test_store: one fresh schema per test)
# Exits 77 (ctest: skipped) when the PostgreSQL server binaries are not installed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pgsh=$root/scripts/pg.sh
if ! ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "with_pg.sh: PostgreSQL server not installed (scripts/deps.sh installs it); skipping" >&2
  exit 77
fi
base=$(mktemp -d "${TMPDIR:-/tmp}/tx_pg_XXXXXX") || exit 1
chmod 755 "$base" # the server runs as `postgres` when we are root: it must get through
dir=$base/pg
cleanup() { "$pgsh" stop "$dir" >/dev/null 2>&1; rm -rf "$base"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
url=""
for _ in 1 2 3 4 5; do # a free port can be taken between the probe and the start: try again
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if url=$("$pgsh" start "$dir" "$port" 2>"$base/start.err"); then break; fi
  url=""
done
if [ -z "$url" ]; then
  echo "with_pg.sh: could not start PostgreSQL:" >&2
  cat "$base/start.err" >&2
  exit 1
fi
export TX_TEST_PG_URL=$url TX_TEST_PG_DIR=$dir TX_TEST_PG_SH=$pgsh
export TX_TEST_STORE_URLS="$url?schema=tx_{}"
"$@"
