#!/usr/bin/env bash
# Installs the Debian packages tenax needs to build, test and benchmark, when missing.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libuv1-dev libhttp-parser-dev libjansson-dev libcjson-dev
  libsqlite3-dev sqlite3 libpq-dev libssl-dev libcmocka-dev
  python3 nodejs npm
  postgresql wrk nginx-light prometheus valgrind openssl
)

# The dashboard's browser test drives Debian's chromium; the install test renders the man page.
pkgs+=(chromium man-db)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A node from elsewhere (nvm, image) is fine for the SDK test; do not fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  keep=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || keep+=("$p"); done
  missing=("${keep[@]+"${keep[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts services it installs; tenax starts its own throw-away instances.
for svc in nginx postgresql prometheus; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
done
