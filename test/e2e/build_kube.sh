#!/usr/bin/env bash
# Builds kube-apiserver and kubectl (and etcd) for the e2e tier from Go modules, once, into a
# versioned cache outside the checkout; later runs find them there and build nothing.
#
# How (../shared/reference/kube-e2e.md section 1): a scratch module requires
# k8s.io/kubernetes@KUBE_VERSION, replaces every staging module that version's own go.mod lists
# (k8s.io/NAME => k8s.io/NAME v0.X.Y), imports both commands from a `tools`-tagged tools.go,
# `go mod tidy`, then ONE `go build -trimpath` for both binaries with the version stamped into
# k8s.io/component-base/version and k8s.io/client-go/pkg/version (else /version says
# v0.0.0-master and kubectl refuses it).
#
# etcd: v3.6.16 built from Go modules the same way (go.etcd.io/etcd/server/v3), cached too. We
# prefer it to Debian's etcd-server 3.4.23: 3.4 lacks watch progress requests, so kube-apiserver
# 1.36 answers WatchList (sendInitialEvents=true, the client-go 1.35+ informer default) with an
# error event and resourceVersionMatch=NotOlderThan lists stall 3 s then 504. It also needs no
# apt package. CSDR_E2E_ETCD=debian skips that build and uses /usr/bin/etcd.
#
# Usage: test/e2e/build_kube.sh [--print-env]
#   Prints the paths, one per line (KEY=PATH); --print-env prints `export KEY=PATH` lines only.
# Environment:
#   CSDR_E2E_CACHE   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/csdr-e2e)
#   CSDR_E2E_ETCD    "build" (default): etcd v3.6.16 from Go modules; "debian": /usr/bin/etcd
#   GOMODCACHE etc.  Go's own variables are respected (module cache defaults to ~/go/pkg/mod)
# Cold: about 4-5 min on 2 cores with an empty module cache; warm: instant.
set -euo pipefail

KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
cache_root="${CSDR_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/csdr-e2e}"
kube_dir="$cache_root/kube-$KUBE_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
etcd_mode="${CSDR_E2E_ETCD:-build}"
print_env=0
[[ "${1:-}" == --print-env ]] && print_env=1

log() { echo "build_kube: $*" >&2; }
die() { log "error: $*"; exit 1; }

# quiet CMD...: the go tool's chatter goes to $build_log; its tail is printed if CMD fails.
quiet() {
  echo "\$ $*" >>"$build_log"
  if ! "$@" >>"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    die "failed: $* (whole output: $build_log)"
  fi
}

# Refuse a cache inside a git work tree (nothing built goes into the checkout).
mkdir -p "$cache_root"
build_log="$cache_root/build.log"
if git -C "$cache_root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  die "$cache_root is inside a git work tree; set CSDR_E2E_CACHE to a directory outside the checkout"
fi

# One builder at a time: a second run waits, then finds the cache filled.
exec 9>"$cache_root/.lock"
flock 9

export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
nice_cmd=(nice -n 10)

build_kube() {
  command -v go >/dev/null || die "go not found (Go 1.26 is expected on this machine)"
  local src="$cache_root/src/kube-$KUBE_VERSION" major minor
  major="$(sed -E 's/^v([0-9]+)\..*/\1/' <<<"$KUBE_VERSION")"
  minor="$(sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/' <<<"$KUBE_VERSION")"
  local staging_version="v0.${KUBE_VERSION#v[0-9]*.}"     # v1.36.3 -> v0.36.3
  mkdir -p "$src"
  cd "$src"
  if [[ ! -f go.mod ]] || ! grep -q "k8s.io/kubernetes $KUBE_VERSION" go.mod; then
    rm -f go.mod go.sum tools.go
    : >"$build_log"
    quiet go mod init e2e-kube
    log "downloading k8s.io/kubernetes@$KUBE_VERSION"
    local gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
      sed -nE 's/^[[:space:]]*"GoMod": "(.*)",?$/\1/p')"
    [[ -f "$gomod" ]] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"
    local staging
    staging="$(sed -nE 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' "$gomod" | sort -u)"
    [[ -n "$staging" ]] || die "no staging replaces found in $gomod"
    {
      echo "module e2e-kube"
      echo
      echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      while read -r m; do echo "	$m => $m $staging_version"; done <<<"$staging"
      echo ")"
    } >go.mod
    cat >tools.go <<'GO'
//go:build tools

// Package tools pins the commands the e2e tier builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    log "go mod tidy ($(wc -l <<<"$staging") staging modules replaced at $staging_version)"
    quiet "${nice_cmd[@]}" go mod tidy
  fi
  local ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  local out="$cache_root/.kube-out.$$"
  rm -rf "$out"; mkdir -p "$out"
  log "go build kube-apiserver kubectl (nice, -trimpath)"
  quiet "${nice_cmd[@]}" go build -trimpath -ldflags "-s -w$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  "$out/kube-apiserver" --version | grep -qx "Kubernetes $KUBE_VERSION" ||
    die "built kube-apiserver reports '$("$out/kube-apiserver" --version)'"
  cp go.mod go.sum "$out/"
  echo "k8s.io/kubernetes $KUBE_VERSION built $(date -u +%FT%TZ) with $(go env GOVERSION)" >"$out/BUILD-INFO"
  rm -rf "$kube_dir"
  mv "$out" "$kube_dir"
}

build_etcd() {
  command -v go >/dev/null || die "go not found (Go 1.26 is expected on this machine)"
  local src="$cache_root/src/etcd-$ETCD_VERSION"
  mkdir -p "$src"
  cd "$src"
  if [[ ! -f go.mod ]] || ! grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" go.mod; then
    rm -f go.mod go.sum
    quiet go mod init e2e-etcd
    log "go get go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    quiet "${nice_cmd[@]}" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  fi
  local out="$cache_root/.etcd-out.$$"
  rm -rf "$out"; mkdir -p "$out"
  log "go build etcd $ETCD_VERSION (nice, -trimpath)"
  quiet "${nice_cmd[@]}" go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
  "$out/etcd" --version | grep -q "etcd Version: ${ETCD_VERSION#v}" ||
    die "built etcd reports '$("$out/etcd" --version | head -n1)'"
  echo "go.etcd.io/etcd/server/v3 $ETCD_VERSION built $(date -u +%FT%TZ) with $(go env GOVERSION)" >"$out/BUILD-INFO"
  rm -rf "$etcd_dir"
  mv "$out" "$etcd_dir"
}

trap 'rm -rf "$cache_root/.kube-out.$$" "$cache_root/.etcd-out.$$"' EXIT

if [[ -f "$kube_dir/BUILD-INFO" && -x "$kube_dir/kube-apiserver" && -x "$kube_dir/kubectl" ]]; then
  log "cached: $kube_dir"
else
  start=$SECONDS
  build_kube
  log "built kube-apiserver and kubectl $KUBE_VERSION in $((SECONDS - start))s"
fi

case "$etcd_mode" in
  build)
    if [[ -f "$etcd_dir/BUILD-INFO" && -x "$etcd_dir/etcd" ]]; then
      log "cached: $etcd_dir"
    else
      start=$SECONDS
      build_etcd
      log "built etcd $ETCD_VERSION in $((SECONDS - start))s"
    fi
    etcd="$etcd_dir/etcd" ;;
  debian)
    [[ -x /usr/bin/etcd ]] || die "CSDR_E2E_ETCD=debian but /usr/bin/etcd is missing (apt-get install etcd-server)"
    etcd=/usr/bin/etcd ;;
  *) die "CSDR_E2E_ETCD must be build or debian, not '$etcd_mode'" ;;
esac

if [[ $print_env -eq 1 ]]; then
  echo "export CSDR_KUBE_APISERVER=$kube_dir/kube-apiserver"
  echo "export CSDR_E2E_KUBECTL=$kube_dir/kubectl"
  echo "export CSDR_ETCD=$etcd"
else
  echo "CSDR_KUBE_APISERVER=$kube_dir/kube-apiserver"
  echo "CSDR_E2E_KUBECTL=$kube_dir/kubectl"
  echo "CSDR_ETCD=$etcd"
fi
