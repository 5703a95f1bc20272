#!/usr/bin/env bash
# tools/main-job.sh — the README's main job. Until `replsim sweep` lands it runs the kernel
# demonstration over a range of seeds and the kernel benchmark.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/tools/replsim
seeds=${1:-20}
echo "== kernel demonstration over $seeds seeds (each line: the run's last line)"
for seed in $(seq 1 "$seeds"); do
  "$bin" demo --seed "$seed" | tail -n 1
done
echo "== kernel benchmark"
"$bin" bench kernel --scale 0.5
