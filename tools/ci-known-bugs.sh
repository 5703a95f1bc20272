#!/usr/bin/env bash
# tools/ci-known-bugs.sh — the short form of the known-bug proof (part of .ci/run):
#   1. every incident scenario that names a switch ("expect": {"bug", "check"}) fails with that switch
#      on, with that check in the FAIL line, and passes with it off (seeds 1 and 2);
#   2. every switch of `replsim bugs` is found by a sweep over scenarios/fuzz with no scripting, from a
#      starting seed known to find it within a few seeds, stopping at the first failure.
# Usage: tools/ci-known-bugs.sh [SEEDS]   (seeds per switch sweep, default 40)
# The full measurement (first failures from several starting seeds, wall seconds, false alarms) is
# tools/bench-detection.py; BENCHMARKS.md has its numbers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/tools/replsim
seeds="${1:-40}"
status=0

for f in scenarios/incidents/*.json; do
  expect=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])).get("expect"); print(e["bug"]+" "+e["check"] if e else "")' "$f")
  for seed in 1 2; do
    off=$("$bin" run "$f" --seed "$seed" | tail -1) || true
    case "$off" in
      PASS*) echo "ok   $f seed=$seed passes with no switch on" ;;
      *) echo "FAIL $f seed=$seed should pass with no switch on: $off"; status=1 ;;
    esac
    [ -z "$expect" ] && continue
    read -r bug check <<<"$expect"
    on=$("$bin" run "$f" --seed "$seed" --bug "$bug" | tail -1) || true
    case "$on" in
      "FAIL seed=$seed check=$check "*) echo "ok   $f seed=$seed --bug $bug fails $check" ;;
      *) echo "FAIL $f seed=$seed --bug $bug should fail check=$check: $on"; status=1 ;;
    esac
  done
done

# Where each switch's sweep starts: a seed a few before one of its measured first failures, so the
# sweep (scenario by scenario, seed by seed, stopping at the first failure) is short. A switch not
# listed starts at 1. When the store or the fuzz files change the seeds a switch fails on, move its
# start (tools/bench-detection.py --starts 1 --bug NAME prints the new first failure).
declare -A first_seed=(
  [aof-record-exceeds-page]=1
  [failover-replays-diverged-aof]=13
  [stuck-recovering]=1
  [failed-attach-resets-role]=1
  [replica-restart-writes-locally]=1
)

for bug in $("$bin" bugs | awk '/^[a-z]/ {print $1}'); do
  a="${first_seed[$bug]:-1}"
  b=$((a + seeds - 1))
  line=$("$bin" sweep scenarios/fuzz --seeds "$a..$b" --jobs 2 --bug "$bug" --stop-on-first-fail 2>/dev/null | tail -1) || true
  case "$line" in
    *"failed=0 errors=0"*) echo "FAIL --bug $bug: not found by a sweep of seeds $a..$b of scenarios/fuzz: $line"; status=1 ;;
    SWEEP*) echo "ok   --bug $bug found by a sweep of seeds $a..$b: $line" ;;
    *) echo "FAIL --bug $bug: sweep did not finish: $line"; status=1 ;;
  esac
done
exit $status
