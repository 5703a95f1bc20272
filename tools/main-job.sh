#!/usr/bin/env bash
# tools/main-job.sh — the README's main job: `replsim sweep` over every bundled fuzz scenario for a
# range of seeds, on one worker process per CPU. Each failing seed prints its FAIL line (ending with
# the command that replays it) and gets a folder with report.json under build/main-job/; the last
# line is the SWEEP summary. Exit 0 when every run passed, 1 when one failed or errored.
#
#   tools/main-job.sh [SEEDS] [more sweep options]    SEEDS: N (1..N) or A..B; default 1500
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${REPLSIM_BIN:-build/tools/replsim}  # REPLSIM_BIN: another build of the CLI
seeds=${1:-1500}
shift || true
out=build/main-job
# The folder holds exactly this sweep's outputs: stale failing-run folders would mislead.
rm -rf -- "$out"
exec "$bin" sweep scenarios/fuzz --seeds "$seeds" --out "$out" "$@"
