#!/usr/bin/env python3
"""tools/bench-detection.py — how fast the fuzz scenarios find each known bug (DESIGN.md section 7).

For every switch of `replsim bugs` and every starting seed S, it sweeps the fuzz files from seed S on
with that switch, a few seeds at a time (each chunk is one `replsim sweep FUZZ --seeds A..B --jobs J
--bug NAME --stop-on-first-fail`, so every fuzz file gets every seed before the next seeds start),
until a run fails or --max-seeds seeds have gone by. It reports, per switch, the first failing seed
and file, the seeds and runs it took, the wall seconds to the first failure, and the check that
fired; then the median over the starting points. With --false-alarm-seeds N it also sweeps N seeds
of every fuzz file with no switch on and reports the failures per 10,000 runs.

Output: one `name=value` line per figure (the benchmark convention), and with --markdown FILE the
tables of BENCHMARKS.md's "Detection" section. Wall clock only: nothing here feeds a simulation.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def sh(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def bug_names(binary):
    out = sh([binary, "bugs"])
    if out.returncode != 0:
        sys.exit(f"bench-detection: `{binary} bugs` failed: {out.stderr.strip()}")
    names = []
    for line in out.stdout.splitlines():
        if line and line[0].isalpha() and not line.startswith("Switch"):
            names.append(line.split()[0])
    return names


def sweep(binary, fuzz, first, last, jobs, bugs, stop):
    """Runs one sweep; returns (wall seconds, records, the SWEEP line)."""
    with tempfile.TemporaryDirectory(prefix="replsim-detect-") as tmp:
        summary = os.path.join(tmp, "summary.json")
        cmd = [binary, "sweep", fuzz, "--seeds", f"{first}..{last}", "--jobs", str(jobs), "--json", summary]
        for b in bugs:
            cmd += ["--bug", b]
        if stop:
            cmd.append("--stop-on-first-fail")
        t0 = time.monotonic()
        out = sh(cmd)
        wall = time.monotonic() - t0
        if out.returncode not in (0, 1) or not os.path.exists(summary):
            sys.exit(f"bench-detection: {' '.join(cmd)} exited {out.returncode}: {out.stderr.strip()[-400:]}")
        with open(summary) as f:
            records = json.load(f)["runs"]
        last_line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        return wall, records, last_line


def first_failure(binary, fuzz, bug, start, max_seeds, chunk, jobs):
    """Sweeps seeds start.. in chunks until a run fails. Returns a dict describing the first failure,
    or one with found=False after max_seeds seeds."""
    wall = 0.0
    runs = 0
    seed = start
    end = start + max_seeds - 1
    while seed <= end:
        last = min(seed + chunk - 1, end)
        w, records, _ = sweep(binary, fuzz, seed, last, jobs, [bug], stop=True)
        wall += w
        runs += len(records)
        bad = [r for r in records if r["verdict"] != "pass"]
        if bad:
            r = min(bad, key=lambda r: (r["seed"], r["scenario_path"]))
            return {"found": True, "seed": r["seed"], "scenario": r["scenario"], "check": r["check"] or r["verdict"],
                    "seeds": r["seed"] - start + 1, "runs": runs, "wall_s": wall, "replay": r["replay"]}
        seed = last + 1
    return {"found": False, "seeds": max_seeds, "runs": runs, "wall_s": wall}


def machine():
    cpus = os.cpu_count()
    model = ""
    try:
        for line in sh(["lscpu"]).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{cpus} cores ({model or platform.processor() or 'unknown CPU'}), {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/tools/replsim", help="the replsim binary (default: %(default)s)")
    ap.add_argument("--fuzz", default="scenarios/fuzz", help="fuzz scenario folder (default: %(default)s)")
    ap.add_argument("--bug", action="append", default=[], help="only this switch (repeatable; default: all)")
    ap.add_argument("--starts", default="1,1001,2001,3001,4001",
                    help="comma-separated starting seeds; the median is over them (default: %(default)s)")
    ap.add_argument("--max-seeds", type=int, default=500, help="give up after this many seeds (default: %(default)s)")
    ap.add_argument("--chunk", type=int, default=4, help="seeds per sweep command (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=2, help="sweep --jobs (default: %(default)s)")
    ap.add_argument("--false-alarm-seeds", type=int, default=0,
                    help="also sweep this many seeds of every fuzz file with no switch on")
    ap.add_argument("--false-alarm-first", type=int, default=1, help="first seed of that sweep (default: 1)")
    ap.add_argument("--markdown", help="write the Detection tables to this file")
    args = ap.parse_args()

    if not os.path.exists(args.bin):
        sys.exit(f"bench-detection: no binary at {args.bin}; build first (./replsimw build) or pass --bin")
    starts = [int(s) for s in args.starts.split(",") if s.strip()]
    bugs = args.bug or bug_names(args.bin)
    known = bug_names(args.bin)
    for b in bugs:
        if b not in known:
            sys.exit(f"bench-detection: unknown switch {b} (known: {', '.join(known)})")

    rows = []
    for bug in bugs:
        results = []
        for start in starts:
            r = first_failure(args.bin, args.fuzz, bug, start, args.max_seeds, args.chunk, args.jobs)
            results.append((start, r))
            tag = f"detection.{bug}.start_{start}"
            if r["found"]:
                print(f"{tag}.first_failing_seed={r['seed']}")
                print(f"{tag}.scenario={r['scenario']}")
                print(f"{tag}.check={r['check']}")
                print(f"{tag}.seeds={r['seeds']}")
            else:
                print(f"{tag}.first_failing_seed=none")
                print(f"{tag}.seeds=>{r['seeds']}")
            print(f"{tag}.runs={r['runs']}")
            print(f"{tag}.wall_s={r['wall_s']:.1f}", flush=True)
        found = [r for _, r in results if r["found"]]
        med_seeds = statistics.median([r["seeds"] for _, r in results])
        med_wall = statistics.median([r["wall_s"] for _, r in results])
        checks = sorted({r["check"] for r in found})
        print(f"detection.{bug}.found={len(found)}/{len(results)}")
        print(f"detection.{bug}.median_seeds={med_seeds:g}")
        print(f"detection.{bug}.median_wall_s={med_wall:.1f}")
        print(f"detection.{bug}.checks={','.join(checks) or 'none'}", flush=True)
        rows.append((bug, results, med_seeds, med_wall, checks))

    alarms = None
    if args.false_alarm_seeds > 0:
        first = args.false_alarm_first
        last = first + args.false_alarm_seeds - 1
        wall, records, line = sweep(args.bin, args.fuzz, first, last, args.jobs, [], stop=False)
        bad = [r for r in records if r["verdict"] != "pass"]
        per10k = 10000.0 * len(bad) / max(len(records), 1)
        print(f"false_alarms.runs={len(records)}")
        print(f"false_alarms.failed={len(bad)}")
        print(f"false_alarms.per_10000_runs={per10k:.2f}")
        print(f"false_alarms.wall_s={wall:.1f}")
        for r in bad:
            print(f"false_alarms.run={r['scenario']}:{r['seed']}:{r['check'] or r['verdict']}")
        alarms = (first, last, records, bad, wall, line)

    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(f"Measured {datetime.date.today().isoformat()} on {machine()}, `--jobs {args.jobs}`, "
                      f"fuzz files: {', '.join(sorted(os.path.basename(p) for p in os.listdir(args.fuzz) if p.endswith('.json')))}; "
                      f"chunks of {args.chunk} seeds, starting points {', '.join(map(str, starts))}, "
                      f"at most {args.max_seeds} seeds each.\n\n")
            out.write("| switch | first failing seed (from seed {}) | check that fired | seeds to first failure "
                      "(median) | wall s to first failure (median) | found |\n".format(starts[0]))
            out.write("| --- | --- | --- | --- | --- | --- |\n")
            for bug, results, med_seeds, med_wall, checks in rows:
                first = results[0][1]
                where = f"{first['scenario']} seed {first['seed']}" if first["found"] else f"none in {first['seeds']}"
                found = sum(1 for _, r in results if r["found"])
                out.write(f"| `{bug}` | {where} | {', '.join(checks) or '-'} | {med_seeds:g} | {med_wall:.1f} | "
                          f"{found}/{len(results)} |\n")
            out.write("\nPer starting point (seeds / wall s / check):\n\n")
            out.write("| switch | " + " | ".join(f"from {s}" for s in starts) + " |\n")
            out.write("| --- |" + " --- |" * len(starts) + "\n")
            for bug, results, _, _, _ in rows:
                cells = []
                for _, r in results:
                    cells.append(f"{r['seeds']} / {r['wall_s']:.1f} / {r['check']}" if r["found"]
                                 else f">{r['seeds']} / {r['wall_s']:.1f} / -")
                out.write(f"| `{bug}` | " + " | ".join(cells) + " |\n")
            if alarms:
                first, last, records, bad, wall, line = alarms
                out.write(f"\nFalse alarms: seeds {first}..{last} of every fuzz file with no switch on: "
                          f"{len(records)} runs, {len(bad)} failed "
                          f"({10000.0 * len(bad) / max(len(records), 1):.2f} per 10,000 runs), {wall:.0f} s wall.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
