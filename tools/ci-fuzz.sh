#!/usr/bin/env bash
# tools/ci-fuzz.sh [SECONDS] [TARGET...] — the fuzzing CI runs: builds the libFuzzer targets of
# tools/fuzz/ in the sanitizer build (build-asan/: clang, ASan + UBSan, -Dfuzz=true, the same build
# `./replsimw asan-test` uses), then runs each target for SECONDS (default 60), two at a time,
# starting from its seed corpus tools/fuzz/corpus/<target>/. New interesting inputs go to
# build-asan/fuzz-corpus/<target>/, never into the repository.
#
# Exit 0 when no target crashed, 1 when one did: the reproducer's path is printed with the command
# that replays it. To keep a fixed crash as a regression, copy the reproducer to
# tools/fuzz/corpus/<target>/regression-<what> (the corpus test replays it in every build).
# Needs the Debian packages clang and libclang-rt-dev (libFuzzer, ASan and UBSan runtimes);
# `./replsimw fuzz [SECONDS]` installs them and runs this script.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(resp scenario aof checkpoint report)
dir=${REPLSIM_FUZZ_BUILD:-build-asan}
say() { printf 'ci-fuzz: %s\n' "$*"; }

for tool in clang++ meson ninja; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "$tool not found; install the Debian packages clang libclang-rt-14-dev meson ninja-build"
    exit 2
  fi
done

start=$(date +%s)
if [ ! -f "$dir/build.ninja" ]; then
  say "no build in $dir/: configuring it with ./replsimw (clang, ASan + UBSan, -Dfuzz=true)"
  if [ "$dir" != build-asan ]; then say "only build-asan/ can be configured here"; exit 2; fi
  ./replsimw asan-build || { say "configuring $dir failed"; exit 2; }
elif ! grep -q 'fuzz_resp' "$dir/build.ninja"; then
  # An older build-asan/ configured before the fuzz targets joined it.
  meson configure "$dir" -Dfuzz=true >/dev/null ||
    { say "$dir/ cannot build the fuzz targets (it needs clang): remove it and run ./replsimw fuzz"; exit 2; }
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=("tools/fuzz/fuzz_$t"); done
if ! ninja -C "$dir" "${build_targets[@]}" >"$dir/fuzz-build.log" 2>&1; then
  tail -n 40 "$dir/fuzz-build.log"
  say "build failed (full log: $dir/fuzz-build.log)"
  exit 2
fi
built=$(date +%s)
say "built ${#targets[@]} targets in $((built - start)) s; fuzzing each for ${seconds} s, two at a time"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# fuzz TARGET: runs one target for $seconds; its log is $dir/fuzz-logs/TARGET.log.
fuzz() {
  local t=$1
  local corpus="$dir/fuzz-corpus/$t" artifacts="$dir/fuzz-artifacts/$t/" log="$dir/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$dir/fuzz-logs"
  "$dir/tools/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "tools/fuzz/corpus/$t" >"$log" 2>&1
}

fail=0
report() {
  local t=$1 status=$2
  local log="$dir/fuzz-logs/$t.log"
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  if [ "$status" -eq 0 ]; then
    say "PASS target=$t executions=${execs:-?} corpus=$(find "$dir/fuzz-corpus/$t" -type f | wc -l)"
    return
  fi
  fail=1
  local artifact
  artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //')
  say "FAIL target=$t executions=${execs:-?} exit=$status"
  grep -E "ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error|contract broken|SUMMARY" \
    "$log" | head -n 8 | sed 's/^/  /'
  if [ -n "$artifact" ]; then
    say "  reproducer: $artifact"
    say "  replay it:  $dir/tools/fuzz/fuzz_$t $artifact"
    say "  after the fix: cp $artifact tools/fuzz/corpus/$t/regression-<what>"
  fi
  say "  log: $log"
}

i=0
while [ $i -lt ${#targets[@]} ]; do
  a=${targets[$i]}
  b=${targets[$((i + 1))]:-}
  fuzz "$a" & pa=$!
  if [ -n "$b" ]; then fuzz "$b" & pb=$!; fi
  wait $pa; sa=$?
  report "$a" $sa
  if [ -n "$b" ]; then wait $pb; sb=$?; report "$b" $sb; fi
  i=$((i + 2))
done

say "done in $(($(date +%s) - start)) s (build $((built - start)) s)"
exit $fail
