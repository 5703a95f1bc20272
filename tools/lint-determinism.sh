#!/usr/bin/env bash
# tools/lint-determinism.sh — fails when core/ or sim/ use something that can make one seed produce
# two different runs (DESIGN.md section 3, last paragraph): wall clocks, libc randomness, std
# distributions, threads, swallowed exceptions (a crash unwinds fibers with one), or core/ reaching
# into the simulator. Tests (*_test.cpp) may use what they like.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

status=0
report() {  # report TITLE REMEDY MATCHES
  if [ -n "$3" ]; then
    printf 'determinism lint: %s\n%s\n  remedy: %s\n\n' "$1" "$3" "$2"
    status=1
  fi
}

src() { find core sim -type f \( -name '*.cpp' -o -name '*.h' \) ! -name '*_test.cpp' | sort; }

hits=$(src | xargs grep -nE 'std::chrono::(system_clock|steady_clock|high_resolution_clock)|\bgettimeofday\b|\bclock_gettime\b|[^_a-zA-Z.:]time\((NULL|nullptr|0)\)' 2>/dev/null)
report "wall clock in core/ or sim/" "use Env::now() in core/, Scheduler::now() in sim/" "$hits"

hits=$(src | xargs grep -nE '[^_a-zA-Z.:>]s?rand\(|\brandom_device\b|\bmt19937|\bdefault_random_engine\b|\b(uniform_int|uniform_real|normal|bernoulli|exponential|poisson)_distribution\b' 2>/dev/null)
report "libc/std randomness or std distributions" "draw from the node's Env::random_u64() or a kernel::Rng stream" "$hits"

hits=$(src | xargs grep -nE 'std::(thread|jthread|async)\b|\bpthread_create\b|#include <(thread|future)>' 2>/dev/null)
report "threads" "everything runs on the scheduler's single thread; use spawn()" "$hits"

hits=$(src | xargs grep -nE 'catch *\( *\.\.\. *\)' 2>/dev/null | while IFS= read -r line; do
  file=${line%%:*}; rest=${line#*:}; num=${rest%%:*}
  # A catch-all is allowed only when the next few lines rethrow.
  if ! sed -n "${num},$((num + 4))p" "$file" | grep -qE '\bthrow;'; then echo "$line"; fi
done)
report "catch (...) without rethrow" "catch the specific exception, or rethrow: a crash unwinds fibers with an exception" "$hits"

hits=$(find core -type f \( -name '*.cpp' -o -name '*.h' \) | sort | xargs grep -nE '#include *[<"](sim/|kernel/|reports/|tools/)' 2>/dev/null)
report "core/ includes simulator or harness headers" "core reaches the world only through core/env.h" "$hits"

hits=$(src | xargs grep -nE '\bunordered_(map|set|multimap|multiset)\b' 2>/dev/null | grep -v 'lint: order-free')
report "unordered containers (iteration order can reach the trace)" "use std::map/std::set or a sorted vector; if the container is never iterated, mark the line with '// lint: order-free'" "$hits"

if [ "$status" -eq 0 ]; then
  echo "determinism lint: ok ($(src | wc -l) files in core/ and sim/)"
fi
exit "$status"
