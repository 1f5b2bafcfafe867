#!/usr/bin/env bash
# Builds the suite's Go programs from test/bench/peers (its go.mod and go.sum pin
# k8s.io/sample-apiserver and sigs.k8s.io/controller-runtime) and the C programs (the SQLite
# ceiling, the fixed-rate client) into a cache outside the checkout, and asks
# test/e2e/build_kube.sh for kube-apiserver and etcd (built once, cached there). A second run
# with unchanged sources builds nothing.
#
# Prints KEY=PATH lines: BENCH_LOAD, BENCH_WEBHOOK, BENCH_SAMPLE_APISERVER, BENCH_CEILING,
# BENCH_RATE, CSDR_KUBE_APISERVER, CSDR_E2E_KUBECTL, CSDR_ETCD.
# Environment: CSDR_BENCH_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/csdr-bench).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${CSDR_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/csdr-bench}"
bin="$cache/bin"
mkdir -p "$bin"
if git -C "$cache" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "build-peers: $cache is inside a git work tree; set CSDR_BENCH_CACHE elsewhere" >&2
  exit 1
fi
exec 9>"$cache/.lock"
flock 9

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath"
stamp="$( (cd "$here" && cat peers/go.mod peers/go.sum peers/*/*.go sqlite_ceiling.c rate.c; go version) |
  sha256sum | cut -c1-16)"
if [[ "$(cat "$bin/STAMP" 2>/dev/null)" != "$stamp" ]]; then
  echo "build-peers: go build (nice) load, webhook, k8s.io/sample-apiserver into $bin" >&2
  (cd "$here/peers" &&
    nice -n 10 go build -o "$bin/load" ./load &&
    nice -n 10 go build -o "$bin/webhook" ./webhook &&
    nice -n 10 go build -ldflags "-s -w" -o "$bin/sample-apiserver" k8s.io/sample-apiserver) >&2
  cc -O2 -Wall -Wextra -Werror -o "$bin/sqlite_ceiling" "$here/sqlite_ceiling.c" -lsqlite3
  cc -O2 -Wall -Wextra -Werror -pthread -o "$bin/rate" "$here/rate.c" -lssl -lcrypto
  echo "$stamp" >"$bin/STAMP"
else
  echo "build-peers: cached: $bin" >&2
fi
(cd "$here/peers" && go list -m -f '{{.Path}} {{.Version}}' k8s.io/sample-apiserver \
  sigs.k8s.io/controller-runtime k8s.io/apiserver) >"$bin/VERSIONS"
echo "BENCH_LOAD=$bin/load"
echo "BENCH_WEBHOOK=$bin/webhook"
echo "BENCH_SAMPLE_APISERVER=$bin/sample-apiserver"
echo "BENCH_CEILING=$bin/sqlite_ceiling"
echo "BENCH_RATE=$bin/rate"
echo "BENCH_VERSIONS=$bin/VERSIONS"
"$here/../e2e/build_kube.sh"
