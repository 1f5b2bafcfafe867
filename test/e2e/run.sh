#!/usr/bin/env bash
# e2e tier: a real etcd + kube-apiserver v1.36.3 on loopback (built from Go modules once, cached
# outside the checkout by build_kube.sh) and the tests test/e2e/test_*.py (python unittest).
#
# Usage: test/e2e/run.sh [-k PATTERN]... [MODULE]...
#   MODULE: test file names without .py (default: every test_*.py here, by unittest discovery).
# Environment:
#   CSDR_SKIP_E2E=1        skip the whole tier (exit 0, loudly); for quick local runs only
#   CSDR_E2E_BUDGET        seconds for the whole tier, build included (default 1500); past it the
#                          build or the tests are killed and the run fails
#   CSDR_APISERVER         our binary (default build/csdr-apiserver)
#   CSDR_E2E_CACHE         where build_kube.sh caches kube-apiserver, kubectl and etcd
#   CSDR_E2E_ETCD          build (default: etcd v3.6.16 from Go modules) or debian (/usr/bin/etcd)
#   CSDR_E2E_KEEP=1        keep every test's work directory (kept anyway after a failure)
#   CSDR_PYTHON            the interpreter (default /usr/bin/python3, which has python3-kubernetes)
# Prints per-test results and a closing line "e2e: N passed, N failed, N skipped"; exits 1 on any
# failure, a build failure or an exhausted budget.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${CSDR_PYTHON:-/usr/bin/python3}"
budget="${CSDR_E2E_BUDGET:-1500}"
start=$SECONDS

die() { echo "e2e: error: $*" >&2; exit 1; }

if [[ "${CSDR_SKIP_E2E:-0}" == 1 ]]; then
  cat >&2 <<'MSG'
################################################################################
# e2e: SKIPPED because CSDR_SKIP_E2E=1.
# NOTHING was tested against a real kube-apiserver. Fine for a quick local run;
# CI must run this tier.
################################################################################
MSG
  exit 0
fi

patterns=()
modules=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -k) [[ $# -ge 2 ]] || die "-k needs a pattern"; patterns+=("$2"); shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) modules+=("${1%.py}") ;;
  esac
  shift
done

[[ "$budget" =~ ^[0-9]+$ ]] || die "CSDR_E2E_BUDGET must be a number of seconds"
command -v openssl >/dev/null || die "openssl not found: run scripts/install-deps.sh"
"$py" -c 'import kubernetes, yaml' 2>/dev/null ||
  die "$py cannot import kubernetes and yaml: run scripts/install-deps.sh"
export CSDR_APISERVER="$(realpath -m "${CSDR_APISERVER:-$repo/build/csdr-apiserver}")"

left() { echo $(( budget - (SECONDS - start) )); }

echo "e2e: building or finding kube-apiserver, kubectl and etcd (budget ${budget}s)"
build_start=$SECONDS
env_lines="$(timeout --kill-after=10 "$(left)" "$here/build_kube.sh" --print-env)"
rc=$?
[[ $rc -eq 0 ]] || die "build_kube.sh failed (exit $rc$([[ $rc -eq 124 ]] && echo ", budget of ${budget}s spent"))"
eval "$env_lines"
echo "e2e: binaries ready in $((SECONDS - build_start))s:"
echo "  kube-apiserver $CSDR_KUBE_APISERVER ($("$CSDR_KUBE_APISERVER" --version))"
echo "  kubectl        $CSDR_E2E_KUBECTL"
echo "  etcd           $CSDR_ETCD ($("$CSDR_ETCD" --version | head -n1))"
echo "  csdr-apiserver $CSDR_APISERVER$([[ -x "$CSDR_APISERVER" ]] || echo " (NOT BUILT: tests that need it are skipped)")"

remaining="$(left)"
[[ $remaining -gt 30 ]] || die "only ${remaining}s of the ${budget}s budget left for the tests"

result_file="$(mktemp)"
trap 'rm -f "$result_file"' EXIT
cd "$here"
timeout --kill-after=30 "$remaining" "$py" - "$result_file" "${#patterns[@]}" "${patterns[@]}" "${modules[@]}" <<'PY'
import sys, time, unittest
result_file, npat = sys.argv[1], int(sys.argv[2])
patterns, modules = sys.argv[3:3 + npat], sys.argv[3 + npat:]
sys.path.insert(0, ".")
loader = unittest.TestLoader()
if patterns:
    loader.testNamePatterns = [f"*{p}*" for p in patterns]
suite = loader.loadTestsFromNames(modules) if modules else loader.discover(".", pattern="test_*.py")
t0 = time.monotonic()
r = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
skipped = len(r.skipped)
with open(result_file, "w") as f:
    f.write(f"{r.testsRun - failed - skipped} {failed} {skipped} {time.monotonic() - t0:.0f}\n")
PY
rc=$?

echo
echo "=== e2e summary"
if [[ -s "$result_file" ]]; then
  read -r passed failed skipped secs <"$result_file"
else
  passed=0 failed=1 skipped=0 secs="?"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "e2e: tests killed: the ${budget}s budget ran out"
  else
    echo "e2e: test runner exited $rc without a result"
  fi
fi
[[ $rc -ne 0 && $failed -eq 0 ]] && failed=1
[[ $((passed + failed)) -eq 0 ]] && { echo "e2e: no test ran"; failed=1; }
echo "tests ${secs}s, whole tier $((SECONDS - start))s of a ${budget}s budget"
echo "e2e: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
