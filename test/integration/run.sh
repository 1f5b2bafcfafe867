#!/usr/bin/env bash
# Integration tier: the real csdr-apiserver binary driven by real clients (kubectl, Debian's
# python3-kubernetes, curl). Builds nothing: `make test` builds first.
#
# Usage: test/integration/run.sh [-k PATTERN]... [SUITE]...
#   SUITE: one of all_suites below (kubectl, rules, ..., replicas, controllers; default: all).
#   The kubectl suite runs once per kubectl on the machine: /usr/bin/kubectl,
#   /usr/lib/google-cloud-sdk/bin/kubectl.1.*, and Debian's kubernetes-client 1.20 that
#   scripts/install-deps.sh unpacks (required: run `make deps` first).
# Environment:
#   CSDR_APISERVER        the binary (default build/csdr-apiserver)
#   CSDR_KUBECTLS         space-separated kubectl paths, instead of looking for them
#   CSDR_TEST_CACHE       where install-deps.sh unpacked kubernetes-client (/var/cache/csdr-test)
#   CSDR_IT_SUITE_TIMEOUT seconds one suite run may take before it is killed (default 900)
#   CSDR_IT_VERBOSITY     the server's --v (default 2); a failed test prints the server log tail
#   CSDR_ETCD_BIN         the etcd the etcd tests start (default /usr/bin/etcd, Debian's 3.4)
#   CSDR_ETCD36_BIN       when set (etcd 3.6, e.g. from test/e2e/build_kube.sh), the replicas
#                         suite runs once more on it
# Prints a summary and "integration: N passed, N failed, N skipped"; exits 1 on any failure.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${CSDR_PYTHON:-/usr/bin/python3}"
export CSDR_APISERVER="$(realpath -m "${CSDR_APISERVER:-$repo/build/csdr-apiserver}")"
suite_timeout="${CSDR_IT_SUITE_TIMEOUT:-900}"

die() { echo "run.sh: error: $*" >&2; exit 1; }

patterns=()
suites=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -k) [[ $# -ge 2 ]] || die "-k needs a pattern"; patterns+=(-k "$2"); shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) suites+=("$1") ;;
  esac
  shift
done
all_suites=(kubectl rules python_client restart bad_input many_watches auth hostile http2 kill edge cert_reload damaged_db port_sharing migrate replicas controllers)
[[ ${#suites[@]} -gt 0 ]] || suites=("${all_suites[@]}")
for s in "${suites[@]}"; do
  [[ " ${all_suites[*]} " == *" $s "* ]] || die "unknown suite '$s' (one of: ${all_suites[*]})"
done

[[ -x "$CSDR_APISERVER" ]] || die "$CSDR_APISERVER is not built: run \`make build\` first"
"$py" -c 'import kubernetes, yaml' 2>/dev/null ||
  die "$py cannot import kubernetes and yaml: run scripts/install-deps.sh (python3-kubernetes, python3-yaml)"
command -v curl >/dev/null || die "curl not found: run scripts/install-deps.sh"

kubectls=()
if [[ " ${suites[*]} " == *" kubectl "* ]]; then
  if [[ -n "${CSDR_KUBECTLS:-}" ]]; then
    read -r -a kubectls <<<"$CSDR_KUBECTLS"
  else
    [[ -x /usr/bin/kubectl ]] && kubectls+=(/usr/bin/kubectl)
    while IFS= read -r k; do
      [[ -x "$k" ]] && kubectls+=("$k")
    done < <(ls -d /usr/lib/google-cloud-sdk/bin/kubectl.1.* 2>/dev/null | sort -V)
    k120="${CSDR_TEST_CACHE:-/var/cache/csdr-test}/kubernetes-client/usr/bin/kubectl"
    [[ -x "$k120" ]] || die "$k120 (Debian's kubernetes-client 1.20) is missing: run scripts/install-deps.sh (make deps)"
    kubectls+=("$k120")
  fi
fi

etcds=("${CSDR_ETCD_BIN:-/usr/bin/etcd}")
[[ -n "${CSDR_ETCD36_BIN:-}" ]] && etcds+=("$CSDR_ETCD36_BIN")
if [[ " ${suites[*]} " == *" kill "* || " ${suites[*]} " == *" replicas "* ]]; then
  for e in "${etcds[@]}"; do
    [[ -x "$e" ]] || die "$e is not an executable etcd: run scripts/install-deps.sh (etcd-server) or set CSDR_ETCD_BIN"
  done
fi

etcd_version() {
  "$1" --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n1
}

kubectl_version() {
  "$1" version --client -o json 2>/dev/null |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null ||
    echo unknown
}

summary=()
total_passed=0 total_failed=0 total_skipped=0

# run_suite LABEL MODULE [ENV=VALUE...]
run_suite() {
  local label="$1" module="$2"; shift 2
  local log start rc result passed failed skipped
  log="$(mktemp)"
  start=$(date +%s)
  echo
  echo "=== $label"
  env "$@" timeout --kill-after=30 "$suite_timeout" \
    "$py" "$here/runner.py" "$module" "$label" "${patterns[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  result="$(grep -F "RESULT $label passed=" "$log" | tail -n1)"
  rm -f "$log"
  if [[ -n "$result" ]]; then
    passed="$(sed -E 's/.* passed=([0-9]+).*/\1/' <<<"$result")"
    failed="$(sed -E 's/.* failed=([0-9]+).*/\1/' <<<"$result")"
    skipped="$(sed -E 's/.* skipped=([0-9]+).*/\1/' <<<"$result")"
  else
    passed=0 failed=1 skipped=0   # crashed or timed out before reporting
  fi
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi
  local note=""
  [[ $rc -eq 124 || $rc -eq 137 ]] && note=" (killed after ${suite_timeout}s)"
  [[ -z "$result" && -z "$note" ]] && note=" (exited $rc without a result)"
  summary+=("$(printf '%-28s %4s passed %4s failed %4s skipped %5ss%s' "$label" "$passed" "$failed" "$skipped" "$(( $(date +%s) - start ))" "$note")")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

cd "$here"
echo "integration: server $CSDR_APISERVER"
for suite in "${suites[@]}"; do
  if [[ "$suite" == kubectl ]]; then
    for k in "${kubectls[@]}"; do
      echo
      echo "=== kubectl suite with $k"
      run_suite "kubectl $(kubectl_version "$k")" test_kubectl "CSDR_KUBECTL=$k"
    done
  elif [[ "$suite" == replicas ]]; then
    for e in "${etcds[@]}"; do
      run_suite "replicas etcd $(etcd_version "$e")" test_replicas "CSDR_ETCD_BIN=$e"
    done
  elif [[ "$suite" == kill ]]; then
    run_suite kill test_kill "CSDR_ETCD_BIN=${etcds[0]}"
  else
    run_suite "$suite" "test_$suite"
  fi
done

echo
echo "=== integration summary"
printf '%s\n' "${summary[@]}"
echo "integration: $total_passed passed, $total_failed failed, $total_skipped skipped"
[[ $total_failed -eq 0 ]]
