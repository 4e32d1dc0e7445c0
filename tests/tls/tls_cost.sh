#!/bin/sh
# Builds tests/tls/tls_cost.c against build/libtx_upstream.a (run `make build` first) and prints its
# figures, then the client's instructions per 400 B/1200 B round from two callgrind runs (the
# difference of 2,200 and 200 rounds, so the handshakes cancel out). Run from the repository root.
set -eu
out=${TMPDIR:-/tmp}/tx_tls_cost.$$
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
tests/tls/mkcerts.sh "$out/certs"
cc -O2 -g -Isrc -Iinclude tests/tls/tls_cost.c build/libtx_upstream.a -lssl -lcrypto -o "$out/tls_cost"
"$out/tls_cost" "$out/certs"
command -v valgrind >/dev/null || exit 0
client() { # inclusive instructions of the tx_tls_* calls the loop makes
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk '/:tx__tls_(write|writev|read|feed|take|pending|output|consume) \[/ { gsub(",", "", $1); s += $1 } END { print s }'
}
for r in 200 2200; do
    R=$r N=1 B=0 valgrind --tool=callgrind --callgrind-out-file="$out/cg.$r" "$out/tls_cost" \
        "$out/certs" >/dev/null 2>&1
done
echo "client instructions per round: $((($(client "$out/cg.2200") - $(client "$out/cg.200")) / 2000))"
