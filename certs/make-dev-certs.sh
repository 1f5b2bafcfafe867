#!/usr/bin/env bash
# Development and test certificates for csdr-apiserver, made with openssl.
#
# Usage: certs/make-dev-certs.sh [--force] [--user NAME[:GROUP[,GROUP...]]] [OUTDIR]
#
#   OUTDIR (default certs/dev) receives:
#     ca.crt, ca.key              a self-signed CA (client CA and serving CA at once)
#     serving.crt, serving.key    serverAuth, SAN localhost, 127.0.0.1, csdr-apiserver.csdr.svc(.cluster.local)
#     admin.crt, admin.key        clientAuth, CN=csdr-admin O=system:masters
#     kubeconfig                  https://127.0.0.1:${PORT:-8443}, namespace csdr, all data embedded
#   --user alice:dev adds alice.crt, alice.key (CN=alice, O=dev) and alice.kubeconfig,
#   signed by the same CA (for authentication and authorization tests).
#
# Idempotent: existing keys and certificates are kept (unless --force, or a certificate
# expires within a day); the kubeconfigs are rewritten from them, so PORT can change.
# Keys are ECDSA P-256 and mode 600. Nothing here is for production use.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

force=0
users=()
outdir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) force=1 ;;
    --user) [[ $# -ge 2 ]] || { echo "make-dev-certs: --user needs NAME[:GROUPS]" >&2; exit 2; }
            users+=("$2"); shift ;;
    --user=*) users+=("${1#--user=}") ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "make-dev-certs: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [[ -z "$outdir" ]] || { echo "make-dev-certs: one OUTDIR only" >&2; exit 2; }
       outdir="$1" ;;
  esac
  shift
done
outdir="${outdir:-certs/dev}"
port="${PORT:-8443}"
server="https://127.0.0.1:${port}"
days_ca=3650
days_leaf=825   # the longest leaf lifetime that clients such as macOS still accept

command -v openssl >/dev/null || { echo "make-dev-certs: openssl not found (run scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$outdir"
umask 077   # keys are created private; certificates are chmod 644 below

# needs_new FILE.crt: true when the certificate is missing, --force was given, or it expires within a day.
needs_new() {
  [[ $force -eq 1 ]] && return 0
  [[ -s "$1" ]] || return 0
  ! openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

# sign NAME SUBJECT EXTENSIONS: a key and a CSR for NAME, signed by the CA with the given v3 extensions.
sign() {
  local name="$1" subject="$2" extensions="$3"
  local ext_file csr
  ext_file="$(mktemp)"; csr="$(mktemp)"
  printf '%s\n' "$extensions" >"$ext_file"
  new_key "$outdir/$name.key"
  openssl req -new -key "$outdir/$name.key" -subj "$subject" -out "$csr"
  openssl x509 -req -in "$csr" -CA "$outdir/ca.crt" -CAkey "$outdir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days_leaf" -sha256 \
    -extfile "$ext_file" -out "$outdir/$name.crt" 2>/dev/null
  chmod 644 "$outdir/$name.crt"
  rm -f "$ext_file" "$csr"
  echo "make-dev-certs: wrote $outdir/$name.crt ($subject)"
}

ca_renewed=0
if needs_new "$outdir/ca.crt" || [[ ! -s "$outdir/ca.key" ]]; then
  new_key "$outdir/ca.key"
  openssl req -x509 -new -key "$outdir/ca.key" -subj "/CN=csdr-dev-ca" -days "$days_ca" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$outdir/ca.crt"
  chmod 644 "$outdir/ca.crt"
  ca_renewed=1
  echo "make-dev-certs: wrote $outdir/ca.crt (CN=csdr-dev-ca)"
fi

leaf_common='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
authorityKeyIdentifier=keyid'

if [[ $ca_renewed -eq 1 ]] || needs_new "$outdir/serving.crt" || [[ ! -s "$outdir/serving.key" ]]; then
  sign serving "/CN=csdr-apiserver.csdr.svc" "$leaf_common
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:csdr-apiserver.csdr.svc,DNS:csdr-apiserver.csdr.svc.cluster.local"
fi

# client_cert NAME CN GROUPS(comma-separated, may be empty)
client_cert() {
  local name="$1" cn="$2" groups="$3" subject="" g
  IFS=',' read -r -a group_list <<<"$groups"
  for g in "${group_list[@]}"; do [[ -n "$g" ]] && subject+="/O=$g"; done
  subject+="/CN=$cn"
  if [[ $ca_renewed -eq 1 ]] || needs_new "$outdir/$name.crt" || [[ ! -s "$outdir/$name.key" ]]; then
    sign "$name" "$subject" "$leaf_common
extendedKeyUsage=clientAuth"
  fi
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE USER: rewritten only when its content changes.
write_kubeconfig() {
  local file="$1" user="$2" tmp
  tmp="$(mktemp "$outdir/.kubeconfig.XXXXXX")"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: csdr-dev
  cluster:
    server: ${server}
    certificate-authority-data: $(b64 "$outdir/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(b64 "$outdir/$user.crt")
    client-key-data: $(b64 "$outdir/$user.key")
contexts:
- name: ${user}@csdr-dev
  context:
    cluster: csdr-dev
    user: ${user}
    namespace: csdr
current-context: ${user}@csdr-dev
EOF
  chmod 600 "$tmp"
  if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$file"
    echo "make-dev-certs: wrote $file (server $server, user $user)"
  fi
}

client_cert admin csdr-admin system:masters
write_kubeconfig "$outdir/kubeconfig" admin

for spec in "${users[@]}"; do
  name="${spec%%:*}"
  groups=""
  [[ "$spec" == *:* ]] && groups="${spec#*:}"
  [[ "$name" =~ ^[a-z0-9][a-z0-9._-]*$ && "$name" != admin && "$name" != serving && "$name" != ca ]] ||
    { echo "make-dev-certs: bad user name '$name'" >&2; exit 2; }
  client_cert "$name" "$name" "$groups"
  write_kubeconfig "$outdir/$name.kubeconfig" "$name"
done
