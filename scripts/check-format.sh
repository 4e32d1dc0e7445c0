#!/usr/bin/env bash
# Fails (exit 1, naming the files) when a tracked .c/.h differs from what clang-format makes of it
# under the committed .clang-format; `make format` fixes them. Run by `make test` (check_format).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed (scripts/deps.sh)"; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-format clean (run make format): %s\n' "${bad[@]}"
  exit 1
fi
echo "clang-format clean: $(git ls-files '*.c' '*.h' | wc -l) files"
