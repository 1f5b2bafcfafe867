#!/usr/bin/env bash
# Runs the libFuzzer targets built in BUILD_DIR (see CMakeLists.txt here).
#
# Usage: test/fuzz/run.sh BUILD_DIR smoke|long [TARGET]...
#   smoke  each target CSDR_FUZZ_SMOKE_SECONDS (default 10) s: `make fuzz-smoke`, run by `make test`
#   long   each target CSDR_FUZZ_SECONDS (default 300) s: `make fuzz`
# Each target starts from its seed corpus test/fuzz/corpus/<name>/ (read only: new inputs go to
# a scratch directory, BUILD_DIR/fuzz-work/<name>/, which `long` runs keep and reuse). Every
# file in the seed corpus is replayed first, so a crash input committed there is a regression
# test. A crash, a leak, a timeout (a single input over 10 s) or an out-of-memory stops the run;
# the input is left in BUILD_DIR/fuzz-artifacts/ and the script exits 1 naming it.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: run.sh BUILD_DIR smoke|long [TARGET]...}"
mode="${2:?usage: run.sh BUILD_DIR smoke|long [TARGET]...}"
shift 2
# smoke runs start from a fixed seed (CSDR_FUZZ_SEED, default 1) so that `make test` explores
# the same inputs on every machine and a red run can be repeated; long runs take a new seed each
# time to find what the fixed one does not.
case "$mode" in
  smoke) seconds="${CSDR_FUZZ_SMOKE_SECONDS:-10}"; seed="${CSDR_FUZZ_SEED:-1}" ;;
  long) seconds="${CSDR_FUZZ_SECONDS:-300}"; seed="${CSDR_FUZZ_SEED:-0}" ;;
  *) echo "run.sh: mode must be smoke or long, not $mode" >&2; exit 2 ;;
esac
build="$(cd "$build" && pwd)"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < "$build/fuzzers.txt"

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
failed=()
for t in "${targets[@]}"; do
  name="${t#fuzz_}"
  bin="$build/fuzz_$name"
  seeds="$here/corpus/$name"
  [[ -x "$bin" ]] || { echo "run.sh: $bin is not built" >&2; failed+=("$name(not built)"); continue; }
  [[ -d "$seeds" ]] || { echo "run.sh: no seed corpus $seeds" >&2; failed+=("$name(no seeds)"); continue; }
  work="$build/fuzz-work/$name"
  [[ "$mode" == smoke ]] && rm -rf "$work"
  mkdir -p "$work"
  log="$build/fuzz-$name.log"
  start=$(date +%s)
  # -timeout: one input may take 10 s (sanitizers, a loaded CI machine); anything slower is a
  # finding (a request would hold a server thread as long). -rss_limit_mb: what one request
  # may cost is far below this; 2 GiB also catches an alias or copy bomb.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$bin" -seed="$seed" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  stats="$(grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tr '\n' ' ')"
  if [[ $rc -eq 0 ]]; then
    printf 'fuzz %-14s ok   %3ss  %s\n' "$name" "$(( $(date +%s) - start ))" "$stats"
  else
    printf 'fuzz %-14s FAIL (exit %s) after %ss; log %s\n' "$name" "$rc" "$(( $(date +%s) - start ))" "$log"
    grep -E 'ERROR: |FUZZ_CHECK|SUMMARY|Test unit written|^    #[0-9]' "$log" | head -40
    failed+=("$name")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $artifacts; add each, once fixed, to test/fuzz/corpus/<target>/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
