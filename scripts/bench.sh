#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures beside a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
  echo
done
for b in bench/*.py; do
  echo "== $(basename "$b")"
  TENAX_BIN=$PWD/build/tenax python3 "$b"
  echo
done
