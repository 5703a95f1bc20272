#!/usr/bin/env bash
# tools/ci-determinism.sh — runs the same seeds twice in separate processes and compares trace hashes.
# Until `replsim run --check-determinism` exists this drives the kernel's own determinism demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/tools/replsim
fail=0
for seed in 1 2 3 17 4242; do
  a=$("$bin" demo --seed "$seed" | tail -n 1)
  b=$("$bin" demo --seed "$seed" | tail -n 1)
  if [ "$a" != "$b" ]; then
    echo "NONDETERMINISTIC seed=$seed: '$a' vs '$b'"; fail=1
  else
    echo "deterministic seed=$seed: $a"
  fi
done
exit "$fail"
