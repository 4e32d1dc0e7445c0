#!/bin/sh
# Makes throw-away TLS test certificates with the `openssl` command (P-256 keys, 10 years):
#   ca.pem ca.key                 "tenax test CA", the trusted root
#   server.pem server.key         localhost, 127.0.0.1 and ::1, signed by the CA
#   server-chain.pem              server.pem followed by ca.pem
#   wronghost.pem wronghost.key   wrong.example only, signed by the CA
#   other-ca.pem other-ca.key     a second CA that nobody trusts
#   untrusted.pem untrusted.key   localhost, 127.0.0.1 and ::1, signed by the other CA
# Usage: mkcerts.sh DIR. Idempotent and safe to run concurrently on one DIR (flock): the first
# run makes the set, later runs find DIR/.done and return at once.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
[ -f "$dir/.done" ] && exit 0

tmp=$(mktemp -d "$dir/.mk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/x509.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[localhost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[wronghost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
CNF

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$1.key" 2>/dev/null; }
ca() { # name CN
    key "$1"
    openssl req -config "$tmp/x509.cnf" -new -x509 -key "$tmp/$1.key" -subj "/CN=$2" \
        -days 3650 -extensions ca -out "$tmp/$1.pem"
}
leaf() { # name CN section issuer
    key "$1"
    openssl req -config "$tmp/x509.cnf" -new -key "$tmp/$1.key" -subj "/CN=$2" -out "$tmp/$1.csr"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$4.pem" -CAkey "$tmp/$4.key" \
        -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 3650 \
        -extfile "$tmp/x509.cnf" -extensions "$3" -out "$tmp/$1.pem" 2>/dev/null
}
ca ca "tenax test CA"
ca other-ca "tenax untrusted CA"
leaf server localhost localhost ca
leaf wronghost wrong.example wronghost ca
leaf untrusted localhost localhost other-ca
cat "$tmp/server.pem" "$tmp/ca.pem" >"$tmp/server-chain.pem"
for f in ca other-ca server wronghost untrusted; do
    mv -f "$tmp/$f.pem" "$tmp/$f.key" "$dir/"
done
mv -f "$tmp/server-chain.pem" "$dir/"
chmod 600 "$dir"/*.key
touch "$dir/.done"
