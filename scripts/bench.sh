#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures beside a baseline measured in the same
# run (the machine is shared; the ratios are the result). bench_pg runs next to a throw-away
# PostgreSQL (tests/with_pg.sh); the Python benchmarks start their own servers.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  if [ "$(basename "$b")" = bench_pg ]; then
    tests/with_pg.sh sh -c 'TX_BENCH_PG_URL=$TX_TEST_PG_URL "$0"' "$b"
  else
    "$b"
  fi
  echo
done
for b in bench/*.py; do
  echo "== $(basename "$b")"
  TENAX_BIN=$PWD/build/tenax python3 "$b"
  echo
done
