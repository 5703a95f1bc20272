#!/usr/bin/env bash
# tools/ci-determinism.sh — the determinism check CI runs: the same seed twice, in separate processes,
# must give the same trace hash. It covers the kernel demonstration and every scenario under
# scenarios/fuzz/ and scenarios/incidents/ for a few seeds each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/tools/replsim
fail=0
checked=0
compare() {  # compare LABEL CMD...
  local label="$1"; shift
  local a b
  a=$("$@" | tail -n 1 | sed -E 's/ wall_ms=[0-9]+//')
  b=$("$@" | tail -n 1 | sed -E 's/ wall_ms=[0-9]+//')
  checked=$((checked + 1))
  if [ "$a" != "$b" ]; then
    echo "NONDETERMINISTIC $label:"; echo "  first:  $a"; echo "  second: $b"; fail=1
  fi
}
for seed in 1 2 3 17 4242; do
  compare "demo seed=$seed" "$bin" demo --seed "$seed"
done
for f in $(find scenarios/fuzz scenarios/incidents -name '*.json' 2>/dev/null | sort); do
  for seed in 1 2 3; do
    compare "$f seed=$seed" "$bin" run "$f" --seed "$seed"
  done
done
if [ "$fail" -eq 0 ]; then
  echo "determinism: $checked runs repeated, every trace hash identical"
fi
exit "$fail"
