#!/usr/bin/env bash
# tools/main-job.sh — the README's main job: every bundled fuzz scenario over a range of seeds, one
# `replsim run` per seed, with a summary line at the end. (`replsim sweep` replaces this loop when it
# lands.) A failing seed prints its FAIL line, which ends with the command that replays it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/tools/replsim
seeds=${1:-25}
runs=0; passed=0; failed=0; errors=0
start=$(date +%s)
for f in $(find scenarios/fuzz -name '*.json' | sort); do
  echo "== $f, seeds 1..$seeds"
  for seed in $(seq 1 "$seeds"); do
    line=$("$bin" run "$f" --seed "$seed" 2>&1 | tail -n 1)
    code=${PIPESTATUS[0]}
    runs=$((runs + 1))
    case "$line" in
      PASS*) passed=$((passed + 1)) ;;
      FAIL*) failed=$((failed + 1)); echo "$line" ;;
      *) errors=$((errors + 1)); echo "error (exit $code) seed=$seed: $line" ;;
    esac
  done
done
wall=$(( $(date +%s) - start ))
echo "== kernel demonstration"
"$bin" demo --seed 1 | tail -n 1
echo "SWEEP runs=$runs passed=$passed failed=$failed errors=$errors wall_s=$wall"
[ "$failed" -eq 0 ] && [ "$errors" -eq 0 ]
