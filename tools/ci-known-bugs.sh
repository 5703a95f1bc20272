#!/usr/bin/env bash
# tools/ci-known-bugs.sh — the short form of the known-bug proof (part of .ci/run):
#   1. every incident scenario that names a switch ("expect": {"bug", "check"}) fails with that switch
#      on, with that check in the FAIL line, and passes with it off;
#   2. every switch is found by a small sweep over scenarios/fuzz with no scripting.
# Usage: tools/ci-known-bugs.sh [SEEDS_PER_FILE]   (default 60 for the sweeps)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/tools/replsim
seeds="${1:-60}"
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

# Switches the fuzz scenarios do not find yet (a gap in the generators or in the switch's fidelity,
# tracked in the issue notes): reported, not failed. Keep this list short and explained.
#   failover-replays-diverged-aof: the bug only bites when a former primary's tail falls on a record
#   boundary of the new primary's log; random workloads rarely line that up.
not_found_yet=" failover-replays-diverged-aof "

for bug in $("$bin" bugs | awk '/^[a-z]/ {print $1}'); do
  if [[ "$not_found_yet" == *" $bug "* ]]; then
    echo "GAP  --bug $bug: not expected to be found yet (see the comment above)"
    continue
  fi
  line=$("$bin" sweep scenarios/fuzz --seeds "$seeds" --bug "$bug" --stop-on-first-fail 2>/dev/null | tail -1) || true
  case "$line" in
    *"failed=0 errors=0"*) echo "FAIL --bug $bug: not found by a sweep of $seeds seeds per fuzz file: $line"; status=1 ;;
    SWEEP*) echo "ok   --bug $bug found: $line" ;;
    *) echo "FAIL --bug $bug: sweep did not finish: $line"; status=1 ;;
  esac
done
exit $status
