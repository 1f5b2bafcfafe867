#!/usr/bin/env bash
# Prints a manifest with every `caBundle: CA_BUNDLE` placeholder replaced by the base64 of a
# CA certificate (PEM), so kube-apiserver can verify csdr-apiserver's serving certificate.
#
#   certs/fill-cabundle.sh CA.crt manifests/webhook/validatingwebhookconfiguration.yaml | kubectl apply -f -
#
# Exits non-zero with one line when the CA is unreadable or not a certificate.
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: $0 CA_CERT_PEM MANIFEST" >&2
  exit 2
fi
ca="$1"
manifest="$2"
[[ -r "$ca" ]] || { echo "$0: cannot read CA certificate $ca" >&2; exit 1; }
[[ -r "$manifest" ]] || { echo "$0: cannot read manifest $manifest" >&2; exit 1; }
openssl x509 -in "$ca" -noout 2>/dev/null || { echo "$0: $ca is not a PEM certificate" >&2; exit 1; }
bundle=$(base64 -w0 < "$ca")
sed "s|caBundle: CA_BUNDLE|caBundle: ${bundle}|g" "$manifest"
