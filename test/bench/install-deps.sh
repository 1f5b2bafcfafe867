#!/usr/bin/env bash
# Installs what the benchmark suite needs from Debian's packages, only what is missing:
# wrk (webhook load), nginx (the fixed-response ceiling), python3-matplotlib (plots),
# nghttp2-client (h2load, the HTTP/2 load), libsqlite3-dev (the group-commit ceiling program), libjemalloc2 and libmimalloc2.0 (the
# allocator options, preloaded into csdr-apiserver), linux-perf (profiles; optional).
# Idempotent: a second run installs nothing and prints nothing but the summary.
set -euo pipefail

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
[[ -f /usr/include/sqlite3.h ]] || need+=(libsqlite3-dev)
command -v cc >/dev/null || need+=(gcc)
command -v openssl >/dev/null || need+=(openssl)
command -v valgrind >/dev/null || need+=(valgrind)
[[ -f /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ]] || need+=(libjemalloc2)
[[ -f /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 ]] || need+=(libmimalloc2.0)
optional=()
command -v perf >/dev/null || optional+=(linux-perf)

if ((${#need[@]} + ${#optional[@]})); then
  [[ $(id -u) -eq 0 ]] && sudo=() || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  # nginx's maintainer scripts start the nginx service on port 80; the suite runs its own
  # nginx on a loopback port. A policy-rc.d that refuses (exit 101) keeps services from
  # starting during the install, as in container images; it is removed afterwards.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  if ((${#need[@]})); then
    echo "install-deps: apt-get install ${need[*]}"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if ((${#optional[@]})); then
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
      echo "install-deps: ${optional[*]} not installed (profiles fall back to valgrind)"
  fi
fi
command -v go >/dev/null || { echo "install-deps: go not found (the peers are built with Go)" >&2; exit 1; }
echo "install-deps: wrk, nginx, matplotlib, sqlite3.h, valgrind, jemalloc, mimalloc present"
