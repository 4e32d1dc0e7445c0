#!/usr/bin/env bash
# `make soak` (not part of `make test`): bench/soak.py against build/tenax, with the PostgreSQL
# store next to a throw-away server (tests/with_pg.sh; the database is restarted mid-run) when
# the server binaries are installed, else with SQLite. SOAK_STORE=sqlite forces SQLite; the
# SOAK_* knobs of bench/soak.py pass through.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export TENAX_BIN=${TENAX_BIN:-$root/build/tenax}
if [ "${SOAK_STORE:-pg}" != sqlite ] && ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exec "$root/tests/with_pg.sh" python3 "$root/bench/soak.py"
fi
exec python3 "$root/bench/soak.py"
