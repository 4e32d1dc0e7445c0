#!/usr/bin/env bash
# Builds every libFuzzer target with clang (+ASan/UBSan) and runs each for a while on a scratch
# copy of its corpus. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTX_FUZZ=ON -DTX_SANITIZE=ON >/dev/null
targets=$(ls fuzz/fuzz_*.c | xargs -n1 basename | sed 's/\.c$//')
cmake --build build-fuzz -j"$(nproc)" --target $targets >/dev/null
mkdir -p fuzz/artifacts
status=0
for t in $targets; do
  short=${t#fuzz_}
  scratch=$(mktemp -d)
  cp -r "fuzz/corpus/$short/." "$scratch/"
  echo "== $t for ${secs}s"
  if ! ./build-fuzz/$t -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix=fuzz/artifacts/"$short"- "$scratch" 2>"fuzz/artifacts/$short.log"; then
    echo "   CRASH: see fuzz/artifacts/$short.log"; status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "fuzz/artifacts/$short.log" | sed 's/^/   /'
  rm -rf "$scratch"
done
exit $status
