#!/usr/bin/env bash
# Installs what csdr-apiserver needs to build and test, from Debian 12's packages. Idempotent:
# when every package is present it touches nothing (no apt-get update).
#
# It also fetches Debian's kubernetes-client (kubectl 1.20), which cannot be installed beside the
# kubectl package (both own /usr/bin/kubectl), and unpacks it with dpkg-deb -x into a cache outside
# the checkout: ${CSDR_TEST_CACHE:-/var/cache/csdr-test}/kubernetes-client/usr/bin/kubectl. The
# integration tests run their kubectl suite with it too. The last line printed is that path.
#
# Run as root (apt-get install needs it; there is no sudo here). As another user it only checks.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libcpp-httplib-dev libssl-dev rapidjson-dev libyaml-cpp-dev libgoogle-glog-dev libgtest-dev
  libsqlite3-dev sqlite3 openssl libsimdjson-dev libabsl-dev tzdata libnghttp2-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc etcd-server
  python3-kubernetes python3-yaml python3-h2 nghttp2-client
  clang-format curl
  clang libclang-rt-14-dev
)
cache="${CSDR_TEST_CACHE:-/var/cache/csdr-test}"
kubectl_120="$cache/kubernetes-client/usr/bin/kubectl"

log() { echo "install-deps: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update_once() {
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}

missing=()
for p in "${packages[@]}"; do is_installed "$p" || missing+=("$p"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#packages[@]} packages present"
else
  [[ $EUID -eq 0 ]] || die "missing packages: ${missing[*]}; run this script as root"
  apt_update_once
  log "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do is_installed "$p" || die "package $p did not install"; done
fi

# Debian's kubernetes-client, unpacked (not installed).
if [[ -x "$kubectl_120" ]] && "$kubectl_120" version --client >/dev/null 2>&1; then
  log "kubernetes-client already unpacked"
else
  mkdir -p "$cache" 2>/dev/null || die "cannot create $cache (run as root or set CSDR_TEST_CACHE)"
  [[ -w "$cache" ]] || die "$cache is not writable (run as root or set CSDR_TEST_CACHE)"
  # apt-get download needs the package lists; a fresh image may have none yet.
  if ! apt-cache show kubernetes-client >/dev/null 2>&1; then
    [[ $EUID -eq 0 ]] || die "no apt lists know kubernetes-client; run as root (apt-get update)"
    apt_update_once
  fi
  work="$(mktemp -d "$cache/.download.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  # apt's download sandbox user (_apt) cannot write into a root-owned mktemp dir; let it.
  chmod 755 "$work"
  if ! (cd "$work" && apt-get download -qq kubernetes-client >/dev/null 2>&1); then
    [[ $apt_updated -eq 1 || $EUID -ne 0 ]] || { apt_update_once; (cd "$work" && apt-get download -qq kubernetes-client >/dev/null); }
  fi
  deb="$(ls "$work"/kubernetes-client_*.deb 2>/dev/null | head -n1)"
  [[ -n "$deb" ]] || die "apt-get download kubernetes-client produced no .deb"
  rm -rf "$cache/kubernetes-client"
  dpkg-deb -x "$deb" "$work/root"
  mv "$work/root" "$cache/kubernetes-client"
  cp "$deb" "$cache/"
  [[ -x "$kubectl_120" ]] || die "$kubectl_120 missing after dpkg-deb -x $deb"
  log "unpacked $(basename "$deb")"
fi
log "kubectl from kubernetes-client: $("$kubectl_120" version --client --short 2>/dev/null || "$kubectl_120" version --client)"
echo "$kubectl_120"
