#!/usr/bin/env python3
"""tools/cli_test.py — drives the built replsim binary through sweep, merge, replay and the
determinism check, one case per invocation (meson registers each case as its own test).

    cli_test.py CASE REPLSIM SOURCE_ROOT

The test-only fault switches REPLSIM_TEST_CRASH_SEED, _HANG_SEED, _OOM_SEED and
_NONDETERMINISM_EVENT are read by the sweep's worker processes in tools/ only. Exit 0 pass,
1 fail, 77 skipped.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

SKIP = 77
SANITIZED = os.environ.get("REPLSIM_TEST_SANITIZED") == "1"
SWEEP_LINE = re.compile(
    r"^SWEEP runs=(\d+) passed=(\d+) failed=(\d+) errors=(\d+) wall_s=(\d+\.\d\d) runs_per_s=(\d+\.\d\d)$")


class Failure(Exception):
    pass


def expect(condition, what, output=None):
    if not condition:
        raise Failure(what + ("\n--- output ---\n" + output if output else ""))


class Cli:
    def __init__(self, binary, root, tmp):
        self.binary = binary
        self.root = root
        self.tmp = tmp
        self.tiny = os.path.join(root, "tools", "testdata", "tiny.json")
        # Fails the scenario-expect check on every seed (a setup command expects the wrong reply).
        self.failing = os.path.join(root, "tools", "testdata", "failing.json")

    def run(self, *args, env=None, timeout=600):
        full_env = dict(os.environ)
        for key in list(full_env):
            if key.startswith("REPLSIM_TEST_") and key != "REPLSIM_TEST_SANITIZED":
                del full_env[key]
        full_env.update(env or {})
        p = subprocess.run([self.binary, *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                           cwd=self.tmp, errors="replace")
        p.all = f"$ replsim {' '.join(args)}\n[exit {p.returncode}]\n{p.stdout}\n[stderr]\n{p.stderr}"
        return p

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def scenario_folder(self):
        """A folder of three scenarios: tiny, a copy of it under another name, and the failing one."""
        with open(self.tiny) as f:
            doc = json.load(f)
        doc["name"] = "tiny-two"
        os.makedirs(self.path("scenarios", "more"), exist_ok=True)
        shutil.copy(self.tiny, self.path("scenarios", "tiny.json"))
        shutil.copy(self.failing, self.path("scenarios", "more", "failing.json"))
        with open(self.path("scenarios", "two.json"), "w") as f:
            json.dump(doc, f)
        return self.path("scenarios")


def sweep_totals(p):
    last = p.stdout.rstrip("\n").split("\n")[-1]
    m = SWEEP_LINE.match(last)
    expect(m is not None, f"the last line is not the SWEEP line: {last!r}", p.all)
    return dict(zip(["runs", "passed", "failed", "errors"], map(int, m.groups()[:4])))


def load(path):
    with open(path) as f:
        return json.load(f)


def comparable_runs(summary):
    """The runs of a summary without what legitimately varies between executions (wall time)."""
    runs = []
    for r in summary["runs"]:
        r = dict(r)
        r.pop("wall_ms")
        r["detail"] = re.sub(r"wall_ms=\d+", "", r["detail"])
        if r["verdict"] == "error":
            # What a dying worker wrote to stderr holds process ids and addresses (sanitizer reports).
            r.pop("detail")
            r["message"] = re.sub(r"==\d+==|0x[0-9a-f]+", "", r["message"])
        runs.append(r)
    return runs


# ---- cases ---------------------------------------------------------------------------------------

def case_bad_input(cli):
    os.makedirs(cli.path("broken"))
    shutil.copy(cli.tiny, cli.path("broken", "a-good.json"))
    with open(cli.path("broken", "b-bad.json"), "w") as f:
        f.write('{"format_version": 1, "name": "bad", "clusters": [], "nonsense": true}')
    p = cli.run("sweep", "broken", "--seeds", "3")
    expect(p.returncode == 2, "a broken scenario file gives exit 2", p.all)
    expect("b-bad.json" in p.stderr, "the message names the broken file", p.all)
    expect("SWEEP" not in p.stdout and "sweep scenarios=" not in p.stdout, "nothing ran", p.all)

    for args, words in [
        (["sweep", "no-such-folder"], "no-such-folder: no such file or folder"),
        (["sweep", cli.tiny, "--seeds", "0"], "--seeds 0"),
        (["sweep", cli.tiny, "--seeds", "9..2"], "the range is empty"),
        (["sweep", cli.tiny, "--shard", "3/2"], "--shard 3/2"),
        (["sweep", cli.tiny, "--bug", "no-such-bug"], "unknown bug switch"),
        (["sweep", cli.tiny, "--wall-budget-ms", "0"], "--wall-budget-ms"),
        (["sweep"], "scenarios is required"),
        (["merge", "nowhere", "--out", "m"], "nowhere: no such folder or file"),
    ]:
        p = cli.run(*args)
        expect(p.returncode == 2, f"{args} gives exit 2", p.all)
        expect(words in p.stderr, f"{args} says {words!r}", p.all)


def case_jobs_invariance(cli):
    folder = cli.scenario_folder()
    env = {"REPLSIM_TEST_CRASH_SEED": "3"}  # an error among the results must not depend on --jobs either
    a = cli.run("sweep", folder, "--seeds", "5", "--jobs", "1", "--json", "one.json", env=env)
    b = cli.run("sweep", folder, "--seeds", "5", "--jobs", "2", "--json", "two.json", env=env)
    for p in (a, b):
        expect(p.returncode == 1, "a sweep with failures and errors exits 1", p.all)
        t = sweep_totals(p)
        expect(t["runs"] == 15 and t["errors"] == 3 and t["failed"] >= 4 and t["passed"] + t["failed"] == 12,
               f"totals {t}", p.all)
    one, two = load(cli.path("one.json")), load(cli.path("two.json"))
    expect(len(one["runs"]) == 15, "every run is in the summary")
    expect(comparable_runs(one) == comparable_runs(two), "--jobs 1 and --jobs 2 give the same runs")
    expect(one["totals"] == {**two["totals"], "runs_per_s": one["totals"]["runs_per_s"]}, "same totals")
    paths = [s["path"] for s in one["scenarios"]]
    expect(len(paths) == 3 and paths == sorted(paths), f"the scenarios in path order: {paths}")
    keys = [(r["scenario_path"], r["seed"]) for r in one["runs"]]
    expect(keys == sorted(keys), "runs are sorted by scenario, then seed")
    expect(all(re.fullmatch(r"[0-9a-f]{16}", r["trace_hash"]) for r in one["runs"] if r["verdict"] != "error"),
           "every finished run has a trace hash")


def case_shard_merge(cli):
    folder = cli.scenario_folder()
    env = {"REPLSIM_TEST_CRASH_SEED": "4"}
    whole = cli.run("sweep", folder, "--seeds", "7", "--out", "whole", env=env)
    expect(whole.returncode == 1, "the unsharded sweep has errors", whole.all)
    shard_runs = 0
    for k in (1, 2, 3):
        p = cli.run("sweep", folder, "--seeds", "7", "--shard", f"{k}/3", "--out", f"shard{k}", env=env)
        shard_runs += sweep_totals(p)["runs"]
        expect(p.returncode in (0, 1), f"shard {k} ran", p.all)
    expect(shard_runs == 21, f"the shards together ran every run once ({shard_runs})")

    m = cli.run("merge", "shard3", "shard1", "shard2", "--out", "merged")
    expect(m.returncode == 1, "merging shards with errors exits 1", m.all)
    merged, unsharded = load(cli.path("merged", "summary.json")), load(cli.path("whole", "summary.json"))
    expect(comparable_runs(merged) == comparable_runs(unsharded), "merged shards equal the unsharded sweep", m.all)
    expect(merged["totals"]["runs"] == unsharded["totals"]["runs"] == 21, "same totals")
    expect(merged["complete"] is True and merged["shards"] == [1, 2, 3], "the merge is complete")
    expect(sweep_totals(m) == sweep_totals(whole), "the SWEEP lines agree", m.all + whole.all)
    for name in ("tiny-single-node", "tiny-two", "tiny-failing"):
        expect(os.path.isfile(cli.path("merged", name, "seed-4", "error.txt")), f"{name} seed-4 folder copied")
    for seed in (1, 2, 3, 5, 6, 7):
        for f in ("report.json", "history.json", "trace.jsonl", "report.html"):
            expect(os.path.isfile(cli.path("merged", "tiny-failing", f"seed-{seed}", f)), f"seed {seed}: {f} copied")
    jm = ET.parse(cli.path("merged", "junit.xml")).getroot()
    jw = ET.parse(cli.path("whole", "junit.xml")).getroot()
    expect([(s.get("name"), s.get("tests"), s.get("errors"), s.get("failures")) for s in jm] ==
           [(s.get("name"), s.get("tests"), s.get("errors"), s.get("failures")) for s in jw],
           "merged JUnit counts equal the unsharded ones")

    partial = cli.run("merge", "shard1", "shard2", "--out", "partial")
    expect(partial.returncode == 1 and "incomplete: shards 3 of 3 are missing" in partial.stdout,
           "a merge with a missing shard says so and fails", partial.all)
    twice = cli.run("merge", "shard1", "shard1", "--out", "twice")
    expect(twice.returncode == 2 and "appears twice" in twice.stderr, "a shard given twice is refused", twice.all)


def case_worker_crash(cli):
    p = cli.run("sweep", cli.tiny, "--seeds", "4", "--jobs", "2", "--out", "out", "--json", "s.json",
                env={"REPLSIM_TEST_CRASH_SEED": "2"})
    expect(p.returncode == 1, "a crashed worker makes the sweep exit 1", p.all)
    t = sweep_totals(p)
    expect(t["runs"] == 4 and t["errors"] == 1, f"the crash is one error and the sweep went on: {t}", p.all)
    error_lines = [l for l in p.stdout.split("\n") if l.startswith("ERROR ")]
    expect(len(error_lines) == 1 and "seed=2" in error_lines[0], "one ERROR line, for seed 2", p.all)
    expect("replay: replsim run " in error_lines[0] and "--seed 2" in error_lines[0], "with its replay command", p.all)
    run = [r for r in load(cli.path("s.json"))["runs"] if r["seed"] == 2][0]
    expect(run["verdict"] == "error" and "SEGV" in run["message"], f"recorded as an error with the signal: {run}")
    if not SANITIZED:
        expect(run["error_kind"] == "signal" and "SIGSEGV" in run["message"], f"killed by SIGSEGV: {run}")
    with open(cli.path("out", "tiny-single-node", "seed-2", "error.txt")) as f:
        text = f.read()
    expect("replay: replsim run" in text and "SEGV" in text, "error.txt has the signal and the replay command")

    # An abort (a failed assertion in the simulator or the store) is an error in the same way.
    p = cli.run("sweep", cli.tiny, "--seeds", "3", "--jobs", "2", "--json", "a.json",
                env={"REPLSIM_TEST_ABORT_SEED": "3"})
    expect(p.returncode == 1 and sweep_totals(p)["errors"] == 1 and sweep_totals(p)["runs"] == 3,
           "an aborting worker is one error and the sweep goes on", p.all)
    run = [r for r in load(cli.path("a.json"))["runs"] if r["seed"] == 3][0]
    expect(run["verdict"] == "error", f"recorded as an error: {run}")
    if not SANITIZED:
        expect(run["error_kind"] == "signal" and "SIGABRT" in run["message"], f"killed by SIGABRT: {run}")


def case_worker_hang(cli):
    start = time.monotonic()
    p = cli.run("sweep", cli.tiny, "--seeds", "3", "--jobs", "2", "--wall-budget-ms", "3000", "--json", "s.json",
                env={"REPLSIM_TEST_HANG_SEED": "1"})
    elapsed = time.monotonic() - start
    expect(p.returncode == 1, "a hung worker makes the sweep exit 1", p.all)
    t = sweep_totals(p)
    expect(t["runs"] == 3 and t["errors"] == 1, f"the hang is one error: {t}", p.all)
    run = [r for r in load(cli.path("s.json"))["runs"] if r["seed"] == 1][0]
    expect(run["error_kind"] == "wall-budget" and "3000 ms" in run["message"], f"recorded as over budget: {run}")
    expect(3.0 <= run["wall_ms"] / 1000 < 15, f"killed soon after the budget: {run['wall_ms']} ms")
    expect(elapsed < 60, f"the sweep did not wait for the hung worker ({elapsed:.1f} s)")


def case_worker_oom(cli):
    if SANITIZED:
        return SKIP  # sanitizer builds apply no address-space limit (their shadow memory needs it all)
    p = cli.run("sweep", cli.tiny, "--seeds", "2", "--memory-limit-mb", "512", "--json", "s.json",
                env={"REPLSIM_TEST_OOM_SEED": "2"})
    expect(p.returncode == 1, "a worker out of memory makes the sweep exit 1", p.all)
    t = sweep_totals(p)
    expect(t["runs"] == 2 and t["errors"] == 1, f"one error: {t}", p.all)
    run = [r for r in load(cli.path("s.json"))["runs"] if r["seed"] == 2][0]
    expect(run["error_kind"] == "memory" and "out of memory" in run["message"] and "512 MiB" in run["message"],
           f"recorded as out of memory: {run}")
    ok = [r for r in load(cli.path("s.json"))["runs"] if r["seed"] == 1][0]
    expect(ok["verdict"] != "error", "the other seed ran normally under the same limit")


def case_interrupt(cli):
    # Far more runs than can finish before Ctrl-C. Off a terminal the sweep prints a progress line every
    # 5 s; the first one that counts a finished run is the moment to interrupt (a fixed sleep is not
    # enough on a loaded machine or in a sanitizer build).
    proc = subprocess.Popen([cli.binary, "sweep", cli.tiny, "--seeds", "200000", "--jobs", "2", "--out", "out"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cli.tmp)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.match(r"progress runs=(\d+)/200000 failed=0 errors=0 runs_per_s=[0-9.]+ eta=\S+$", line)
        if m and int(m.group(1)) > 0:
            break
    expect(any(l.startswith("progress runs=") for l in lines), "plain progress lines off a terminal", "".join(lines))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    text = "".join(lines) + out
    expect(proc.returncode == 130, f"an interrupted sweep exits 130 (got {proc.returncode})", text + err)
    last = text.rstrip("\n").split("\n")[-1]
    m = SWEEP_LINE.match(last)
    expect(m is not None, "the SWEEP line is still printed last", text)
    runs = int(m.group(1))
    expect(0 < runs < 200000, f"only the finished runs are counted ({runs})", text)
    expect("interrupted: " in text, "the interruption is stated", text)
    summary = load(cli.path("out", "summary.json"))
    expect(summary["complete"] is False and len(summary["runs"]) == runs, "summary.json covers the finished runs")
    expect(os.path.isfile(cli.path("out", "junit.xml")), "junit.xml is written too")


def case_stop_on_first_fail(cli):
    p = cli.run("sweep", cli.tiny, "--seeds", "40", "--jobs", "1", "--stop-on-first-fail",
                env={"REPLSIM_TEST_CRASH_SEED": "2"})
    expect(p.returncode == 1, "exit 1", p.all)
    t = sweep_totals(p)
    expect(t["errors"] == 1 and t["runs"] == 2, f"the sweep stopped at seed 2: {t}", p.all)
    expect("stopped at the first failure" in p.stdout, "and says so", p.all)


def case_junit(cli):
    env = {"REPLSIM_TEST_CRASH_SEED": "2", "REPLSIM_TEST_NONDETERMINISM_EVENT": "30"}
    p = cli.run("sweep", cli.scenario_folder(), "--seeds", "3", "--check-determinism", "--junit", "j.xml", env=env)
    expect(p.returncode == 1, "exit 1", p.all)
    root = ET.parse(cli.path("j.xml")).getroot()  # raises on XML that is not well formed
    expect(root.tag == "testsuites", "the root is <testsuites>")
    expect((root.get("tests"), root.get("failures"), root.get("errors")) == ("9", "6", "3"),
           f"totals: {root.attrib}")
    suites = root.findall("testsuite")
    expect([s.get("name") for s in suites] == ["tiny-failing", "tiny-single-node", "tiny-two"],
           "one suite per scenario, in path order")
    for s in suites:
        expect((s.get("tests"), s.get("failures"), s.get("errors")) == ("3", "2", "1"), f"suite totals {s.attrib}")
        cases = s.findall("testcase")
        expect([c.get("name") for c in cases] == ["seed 1", "seed 2", "seed 3"], "a case per failed seed, in order")
        error = cases[1].find("error")
        expect(error is not None and "SEGV" in error.get("message") and "replay: replsim run" in error.text,
               "the crashed seed is an <error> with message and replay command")
        failure = cases[0].find("failure")
        expect(failure is not None and failure.get("type") == "determinism", "the others are determinism failures")
        expect("--check-determinism" in failure.text and "DIVERGED at event 30" in failure.text,
               "the failure text has the divergent event and the replay command")

    # Real check failures, without the determinism check.
    p = cli.run("sweep", cli.failing, cli.tiny, "--seeds", "4", "--junit", "k.xml")
    root = ET.parse(cli.path("k.xml")).getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    failing = suites["tiny-failing"]
    expect((failing.get("tests"), failing.get("failures"), failing.get("errors")) == ("4", "4", "0"),
           f"failing suite totals {failing.attrib}")
    for c in failing.findall("testcase"):
        f = c.find("failure")
        expect(f.get("type") == "scenario-expect" and "expected +NOT-PONG" in f.get("message"),
               f"the failure names the check and the violation: {f.attrib}")
        expect(re.search(r"trace_hash: [0-9a-f]{16}", f.text) is not None, "and the trace hash")
    expect(suites["tiny-single-node"].get("tests") == "4", "the passing scenario is counted too")
    expect(int(root.get("tests")) == 8 and int(root.get("failures")) >= 4, f"totals {root.attrib}")


def case_replay(cli):
    r = cli.run("run", cli.tiny, "--seed", "3", "--out", "r")
    expect(r.returncode in (0, 1), "run --out", r.all)
    run_hash = re.search(r"trace_hash=([0-9a-f]{16})", r.stdout.split("\n")[-2]).group(1)
    p = cli.run("replay", "r/report.json", "--out", "again")
    expect(p.returncode == r.returncode, "replay exits as the run did", p.all)
    expect(p.stdout.startswith("SEED=3 "), "the usual run output", p.all)
    lines = p.stdout.rstrip("\n").split("\n")
    expect(lines[-1].startswith(f"REPLAY reproduced: trace_hash={run_hash}"), "the trace hash is reproduced", p.all)
    expect(lines[-2].split(" ")[0] in ("PASS", "FAIL") and run_hash in lines[-2], "PASS/FAIL line before it", p.all)
    expect("warning" not in p.stderr, "no binary warning for the same binary", p.all)
    again = load(cli.path("again", "report.json"))
    expect(again["trace_hash"] == run_hash, "replay --out writes a report with the same hash")
    for folder in ("r", "again"):
        for f in ("history.json", "trace.jsonl", "report.html"):
            expect(os.path.getsize(cli.path(folder, f)) > 0, f"{folder}/{f} written next to report.json")
    with open(cli.path("again", "trace.jsonl")) as f:
        trace = [json.loads(line) for line in f]
    last_counted = [e for e in trace if e["i"] == again["stats"]["trace_events"] - 1]
    expect(len(last_counted) == 1 and last_counted[0]["hash"] == run_hash,
           "and the trace, whose last counted event carries the run's trace hash")

    report = load(cli.path("r", "report.json"))
    report["binary"] = "replsim 0.0.1 built elsewhere"
    with open(cli.path("other-binary.json"), "w") as f:
        json.dump(report, f)
    p = cli.run("replay", "other-binary.json")
    expect("warning" in p.stderr and "replsim 0.0.1 built elsewhere" in p.stderr, "a different binary is named", p.all)
    expect(p.stdout.rstrip().split("\n")[-1].startswith("REPLAY reproduced"), "and the run still reproduces", p.all)

    report["trace_hash"] = "0123456789abcdef"
    with open(cli.path("wrong-hash.json"), "w") as f:
        json.dump(report, f)
    p = cli.run("replay", "wrong-hash.json")
    expect(p.returncode == 1, "a hash mismatch exits 1", p.all)
    expect("REPLAY MISMATCH" in p.stdout.split("\n")[-2] and "0123456789abcdef" in p.stdout, "and says so", p.all)

    # A failing run's report from a sweep replays to the same failure.
    s = cli.run("sweep", cli.failing, "--seeds", "2", "--out", "failing")
    expect(s.returncode == 1, "the failing scenario fails", s.all)
    summary = load(cli.path("failing", "summary.json"))
    p = cli.run("replay", os.path.join("failing", "tiny-failing", "seed-2", "report.json"))
    last = p.stdout.rstrip().split("\n")[-1]
    expect(p.returncode == 1 and last.startswith("REPLAY reproduced: trace_hash=" + summary["runs"][1]["trace_hash"]),
           "a failing report replays to the same trace hash and exits 1", p.all)
    expect("check=scenario-expect" in last, "with the same check", p.all)

    # The report written beside a determinism failure replays too.
    s = cli.run("sweep", cli.tiny, "--seeds", "2", "--check-determinism", "--out", "det",
                env={"REPLSIM_TEST_NONDETERMINISM_EVENT": "5"})
    expect(s.returncode == 1, "the perturbed sweep fails", s.all)
    p = cli.run("replay", os.path.join("det", "tiny-single-node", "seed-1", "report.json"))
    expect(p.stdout.rstrip().split("\n")[-1].startswith("REPLAY reproduced"),
           "the report beside a determinism failure replays", p.all)


def case_replay_bad_report(cli):
    r = cli.run("run", cli.tiny, "--seed", "1", "--out", "r")
    expect(r.returncode in (0, 1), "run --out", r.all)
    good = load(cli.path("r", "report.json"))

    def bad(name, edit=None, text=None):
        path = cli.path(name)
        with open(path, "w") as f:
            if text is not None:
                f.write(text)
            else:
                doc = json.loads(json.dumps(good))
                edit(doc)
                json.dump(doc, f)
        p = cli.run("replay", path)
        expect(p.returncode == 2, f"{name}: exit 2", p.all)
        expect(path in p.stderr, f"{name}: the message names the file", p.all)
        expect(p.stdout == "", f"{name}: nothing ran", p.all)
        return p.stderr

    err = bad("old.json", lambda d: d.update(format_version=0))
    expect("field `format_version`" in err and "the file has 0" in err, "an old format version is named", err)
    err = bad("no-seed.json", lambda d: d.pop("seed"))
    expect("field `seed`: missing" in err, "a missing field is named", err)
    err = bad("typed.json", lambda d: d.update(bugs="stuck-recovering"))
    expect("field `bugs`: expected an array of strings" in err, "a mistyped field is named", err)
    err = bad("scenario.json", lambda d: d["scenario"].update(surprise=1))
    expect("embedded scenario" in err and "surprise" in err, "a broken embedded scenario is named", err)
    err = bad("truncated.json", text=json.dumps(good)[:200])
    expect("not valid JSON" in err, "a truncated file is not JSON", err)
    p = cli.run("replay", "missing.json")
    expect(p.returncode == 2 and "missing.json: cannot read" in p.stderr, "a missing file", p.all)


def case_determinism(cli):
    p = cli.run("sweep", cli.tiny, "--seeds", "3", "--check-determinism", "--jobs", "2")
    expect(p.returncode == 0, "a deterministic simulator passes the check", p.all)
    expect(sweep_totals(p)["passed"] == 3, "every seed passed", p.all)

    p = cli.run("sweep", cli.tiny, "--seeds", "2", "--check-determinism", "--out", "out", "--json", "s.json",
                env={"REPLSIM_TEST_NONDETERMINISM_EVENT": "25"})
    expect(p.returncode == 1, "a divergence fails the sweep", p.all)
    t = sweep_totals(p)
    expect(t["failed"] == 2 and t["errors"] == 0, f"both seeds fail: {t}", p.all)
    fails = [l for l in p.stdout.split("\n") if l.startswith("FAIL ")]
    expect(len(fails) == 2 and all("check=determinism" in l for l in fails), "FAIL lines name the check", p.all)
    expect(p.stdout.count("determinism: DIVERGED at event 25") == 2, "the first divergent event is named", p.all)
    expect(p.stdout.count("first run:") == 2 and p.stdout.count("second run:") == 2, "with both versions", p.all)
    with open(cli.path("out", "tiny-single-node", "seed-1", "determinism.txt")) as f:
        text = f.read()
    expect("DIVERGED at event 25" in text and "test-perturbation=1" in text, "determinism.txt has both events")
    run = load(cli.path("s.json"))["runs"][0]
    expect(run["check"] == "determinism" and "diverge at event 25" in run["message"], f"summary: {run}")


def case_run_determinism(cli):
    plain = cli.run("run", cli.tiny, "--seed", "2")
    p = cli.run("run", cli.tiny, "--seed", "2", "--check-determinism")
    expect(p.returncode == plain.returncode, "same exit code as a plain run", p.all + plain.all)
    strip = lambda line: re.sub(r" wall_ms=\d+", "", line)
    plain_lines, lines = plain.stdout.rstrip("\n").split("\n"), p.stdout.rstrip("\n").split("\n")
    expect(strip(lines[-1]) == strip(plain_lines[-1]), "the same PASS/FAIL line as a plain run", p.all + plain.all)
    expect(lines[0] == plain_lines[0], "the same SEED= line", p.all)
    events = int(re.search(r"events=(\d+)", lines[-1]).group(1))
    m = re.search(r"agree on all (\d+) event hashes \(events (\d+)\.\.(\d+)\)", p.stdout)
    expect(m is not None, "the hash sequences were compared", p.all)
    compared, first, last = map(int, m.groups())
    expect(first <= 1 and last >= events - 1 and compared == last - first + 1,
           f"every event of the run was compared ({compared}: {first}..{last}, the run counts {events})", p.all)

    p = cli.run("run", cli.tiny, "--seed", "2", "--check-determinism", "--out", "o",
                env={"REPLSIM_TEST_NONDETERMINISM_EVENT": "10"})
    expect(p.returncode == 1, "a divergence fails the run", p.all)
    last = p.stdout.rstrip("\n").split("\n")[-1]
    expect(last.startswith("FAIL seed=2 check=determinism ") and last.endswith("--check-determinism"),
           "FAIL line with check=determinism and its replay command", p.all)
    expect("DIVERGED at event 10" in p.stdout, "the divergent event is named", p.all)
    expect(os.path.isfile(cli.path("o", "report.json")) and os.path.isfile(cli.path("o", "determinism.txt")),
           "--out holds the report and the determinism note", p.all)
    p = cli.run("run", cli.tiny, "--check-determinism", "--trace")
    expect(p.returncode == 2, "--trace with --check-determinism is bad usage", p.all)


# fsync-off.json: setup switches fsync off (CONFIG SET appendfsync no) although the file promises
# appendfsync always, so a crash loses acknowledged writes. This seed fails acknowledged-writes-durable
# with several swarm faults, of which the crash is the one that matters. (When the store or the harness
# changes its runs, pick another: `replsim run tools/testdata/fsync-off.json --seed N` for N = 1..30.)
SHRINK_SEED = "6"


def case_shrink(cli):
    scenario = os.path.join(cli.root, "tools", "testdata", "fsync-off.json")
    r = cli.run("run", scenario, "--seed", SHRINK_SEED, "--out", "r")
    # Lost writes show as lost pushes (acknowledged-writes-durable) or, when a lost pop hands an
    # element out again, as a duplicate (no-duplicate-list-entries); this seed loses pushes first.
    fail_line = r.stdout.rstrip("\n").split("\n")[-1]
    fired = re.search(rf"^FAIL seed={SHRINK_SEED} check=(acknowledged-writes-durable) ", fail_line)
    expect(r.returncode == 1 and fired is not None, "the run fails", r.all)
    check = fired.group(1)
    p = cli.run("shrink", "r/report.json", "--out", "MIN.json", "--jobs", "2")
    expect(p.returncode == 0, "shrink succeeds", p.all)
    m = re.search(r"^faults (\d+) -> (\d+), ops (\d+) -> (\d+), nodes (\d+) -> (\d+)", p.stdout, re.M)
    expect(m is not None, "shrink prints what it removed", p.all)
    faults_before, faults_after, ops_before, ops_after = map(int, m.groups()[:4])
    report = load(cli.path("r", "report.json"))
    expect(ops_before == report["stats"]["ops_invoked"], "ops before are the report's", p.all)
    expect(faults_before >= 5 and 1 <= faults_after < faults_before, f"faults reduced: {m.group(0)}", p.all)
    expect(0 < ops_after < ops_before / 4, f"workload reduced: {m.group(0)}", p.all)
    doc = load(cli.path("MIN.json"))
    expect(all(not fam.get("may_enable", False) for k, fam in doc.get("swarm", {}).items() if k != "budget"),
           "no swarm generator is on in MIN.json", json.dumps(doc.get("swarm")))
    expect(any(f["action"] == "crash" for f in doc["faults"]), "the crash that loses the writes is kept",
           json.dumps(doc["faults"]))
    expect(doc["phases"]["safety_duration_ms"] < report["scenario"]["phases"]["safety_duration_ms"] / 2,
           "the faults moved earlier and the safety phase with them", json.dumps(doc["phases"]))
    cmd = re.search(r"`replsim (run [^`]*)`", p.stdout)
    expect(cmd is not None, "shrink names the command that fails", p.all)
    args = cmd.group(1).split()
    expect(args[1] == "MIN.json", f"the command runs MIN.json: {args}", p.all)
    # Here the shrunk scenario also fails with the default seed, so plain `replsim run MIN.json` does.
    expect(args == ["run", "MIN.json"], f"no --seed needed: {args}", p.all)
    again = cli.run(*args)
    last = again.stdout.rstrip("\n").split("\n")[-1]
    expect(again.returncode == 1 and last.startswith("FAIL ") and f"check={check} " in last,
           "running MIN.json fails with the same check", again.all)

    # With two replicas that play no part in the lost writes (seed 3 loses acknowledged pushes on the
    # primary alone), shrink drops them.
    replicas = os.path.join(cli.root, "tools", "testdata", "fsync-off-replicas.json")
    r = cli.run("run", replicas, "--seed", "3", "--out", "r3")
    expect(r.returncode == 1 and r.stdout.rstrip("\n").split("\n")[-1].startswith("FAIL seed=3 check="), "it fails", r.all)
    p3 = cli.run("shrink", "r3/report.json", "--out", "MIN3.json")
    m = re.search(r"^faults \d+ -> \d+, ops \d+ -> \d+, nodes 3 -> (\d+)", p3.stdout, re.M)
    expect(p3.returncode == 0 and m is not None and int(m.group(1)) < 3, "replica nodes are dropped", p3.all)
    nodes = [n["name"] for c in load(cli.path("MIN3.json"))["clusters"] for n in c["nodes"]]
    expect("c0n0" in nodes and len(nodes) == int(m.group(1)), f"the primary stays: {nodes}", p3.all)

    # Shrinking the shrunk scenario's own report keeps it failing (the scripted form round-trips).
    cli.run(*args, "--out", "r2")
    p2 = cli.run("shrink", "r2/report.json", "--out", "MIN2.json")
    expect(p2.returncode == 0, "the shrunk scenario's report shrinks again", p2.all)


def case_shrink_bad_input(cli):
    passing = cli.run("run", cli.tiny, "--seed", "3", "--out", "pass")
    expect(passing.returncode == 0, "the tiny run passes", passing.all)
    good = load(cli.path("pass", "report.json"))
    failing = cli.run("run", os.path.join(cli.root, "tools", "testdata", "fsync-off.json"), "--seed", SHRINK_SEED,
                      "--out", "fail")
    bad_report = load(cli.path("fail", "report.json"))

    def check(report_path, words):
        p = cli.run("shrink", report_path, "--out", "MIN.json")
        expect(p.returncode == 2, f"{report_path}: exit 2", p.all)
        expect(words in p.stderr and report_path in p.stderr, f"{report_path}: says {words!r}", p.all)
        expect(not os.path.exists(cli.path("MIN.json")), f"{report_path}: nothing written", p.all)

    check("pass/report.json", "the run passed")
    check("missing.json", "cannot read the report")
    with open(cli.path("trunc.json"), "w") as f:
        f.write(json.dumps(good)[:100])
    check("trunc.json", "not valid JSON")
    doc = json.loads(json.dumps(bad_report))
    doc["decisions"] = {"oops": 1}
    with open(cli.path("decisions.json"), "w") as f:
        json.dump(doc, f)
    check("decisions.json", "field `decisions`: expected an array")
    doc = json.loads(json.dumps(bad_report))
    crash = next(i for i, d in enumerate(doc["decisions"]) if d["action"] == "crash")
    del doc["decisions"][crash]["detail"]["node"]
    with open(cli.path("nonode.json"), "w") as f:
        json.dump(doc, f)
    check("nonode.json", f"decisions[{crash}]: field `detail.node`: missing")
    doc = json.loads(json.dumps(bad_report))
    doc.pop("seed")
    with open(cli.path("noseed.json"), "w") as f:
        json.dump(doc, f)
    check("noseed.json", "field `seed`: missing")
    p = cli.run("shrink", "fail/report.json")
    expect(p.returncode == 2 and "--out is required" in p.stderr, "--out is required", p.all)


def tree_digest(root):
    """Every file under root with its bytes, to show that a refused command changed nothing."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def case_bad_input_catalogue(cli):
    """Every kind of broken input through the CLI: exit 2, one message naming the file and the place,
    nothing run, and nothing already on disk touched (the C++ side is tools/bad_input_test.cpp)."""
    with open(cli.tiny) as f:
        tiny = json.load(f)

    def scenario_file(name, text=None, edit=None):
        path = cli.path(name)
        with open(path, "w" if text is None or isinstance(text, str) else "wb") as f:
            if edit is not None:
                doc = json.loads(json.dumps(tiny))
                edit(doc)
                json.dump(doc, f)
            else:
                f.write(text)
        return name

    scenarios = [
        (scenario_file("empty.json", ""), "invalid JSON"),
        (scenario_file("syntax.json", '{"name": "x",\n "clusters": [}'), "line 2"),
        (scenario_file("binary.json", b"\x00\xff\x1b[31m junk"), "invalid JSON"),
        (scenario_file("overflow.json", '{"name": "x", "clusters": [{"name": "c0", "nodes": 1E999}]}'),
         "number overflow parsing '1E999'"),
        (scenario_file("unknown-key.json", edit=lambda d: d.update(workloads={})), "$: unknown key \"workloads\""),
        (scenario_file("wrong-type.json", edit=lambda d: d["workload"].update(clients="four")),
         "$.workload.clients: expected a positive integer"),
        (scenario_file("unknown-node.json", edit=lambda d: d.update(
            faults=[{"at_ms": 5, "action": "crash", "node": "c0n7"}])), "$.faults[0].node: unknown node \"c0n7\""),
        (scenario_file("version.json", edit=lambda d: d.update(format_version=9)), "$.format_version: expected 1"),
    ]
    os.makedirs(cli.path("keep"))
    with open(cli.path("keep", "report.json"), "w") as f:
        f.write("an earlier report that must survive\n")
    before = tree_digest(cli.tmp)
    for name, words in scenarios:
        for args in (["run", name, "--out", "keep"], ["run", name, "--out", "new-run"],
                     ["sweep", name, "--seeds", "2", "--out", "new-sweep"], ["sweep", name, "--out", "keep"]):
            p = cli.run(*args)
            expect(p.returncode == 2, f"{args}: exit 2", p.all)
            expect(p.stderr.startswith(f"replsim: {name}: ") and words in p.stderr, f"{args}: names the file and says "
                   f"{words!r}", p.all)
            expect(len(p.stderr.strip().split("\n")) == 1, f"{args}: one line", p.all)
            expect("SEED=" not in p.stdout and "SWEEP" not in p.stdout, f"{args}: nothing ran", p.all)
            expect(tree_digest(cli.tmp) == before, f"{args}: nothing on disk changed or was created", p.all)

    r = cli.run("run", cli.tiny, "--seed", "1", "--out", "good")
    expect(r.returncode in (0, 1), "run --out", r.all)
    good = load(cli.path("good", "report.json"))
    reports = [
        ("other-version.json", lambda d: d.update(format_version=2), "reads report format 1, the file has 2"),
        ("no-scenario.json", lambda d: d.pop("scenario"), "field `scenario`: missing"),
        ("bad-hash.json", lambda d: d.update(trace_hash="xyz"), "field `trace_hash`: expected 16 lowercase hex"),
        ("bad-verdict.json", lambda d: d.update(verdict="maybe"), "field `verdict`: expected pass, fail or error"),
    ]
    for name, edit, words in reports:
        doc = json.loads(json.dumps(good))
        edit(doc)
        with open(cli.path(name), "w") as f:
            json.dump(doc, f)
    before = tree_digest(cli.tmp)
    for name, _, words in reports:
        for args in (["replay", name], ["replay", name, "--out", "keep"], ["replay", name, "--out", "good"]):
            p = cli.run(*args)
            expect(p.returncode == 2, f"{args}: exit 2", p.all)
            expect(p.stderr.startswith(f"replsim: {name}: ") and words in p.stderr, f"{args}: says {words!r}", p.all)
            expect(p.stdout == "", f"{args}: nothing ran", p.all)
            expect(tree_digest(cli.tmp) == before, f"{args}: no report overwritten", p.all)


def case_limits(cli):
    """A limit hit is a FAIL with check=run-limit that names the limit and where the run was."""
    with open(cli.tiny) as f:
        doc = json.load(f)
    doc["limits"] = {"events": 500}
    with open(cli.path("events.json"), "w") as f:
        json.dump(doc, f)
    p = cli.run("run", "events.json", "--seed", "1", "--out", "ev")
    expect(p.returncode == 1, "exit 1", p.all)
    last = p.stdout.rstrip("\n").split("\n")[-1]
    expect(last.startswith("FAIL seed=1 check=run-limit "), "the FAIL line names run-limit", p.all)
    expect("run error: events limit: limits.events=500" in p.stdout and "after 500 events, in the" in p.stdout,
           "the events limit and the position are stated", p.all)
    report = load(cli.path("ev", "report.json"))
    expect(report["verdict"] == "error" and report["limit"]["kind"] == "events" and report["limit"]["events"] == 500,
           f"report.json has the limit: {report.get('limit')}")
    rp = cli.run("replay", "ev/report.json")
    expect(rp.returncode == 1 and "REPLAY reproduced" in rp.stdout, "the limit replays exactly", rp.all)

    doc["limits"] = {"wall_time_ms": 1}
    doc["phases"]["safety_duration_ms"] = 20000  # enough events for the watchdog's checks (every 4096 events)
    with open(cli.path("wall.json"), "w") as f:
        json.dump(doc, f)
    p = cli.run("run", "wall.json", "--seed", "1")
    expect(p.returncode == 1, "exit 1", p.all)
    expect("run error: wall-time limit: limits.wall_time_ms=1 of real time passed" in p.stdout,
           "the wall-time limit is stated", p.all)
    expect(" phase)" in p.stdout, "with the phase", p.all)
    s = cli.run("sweep", "wall.json", "--seeds", "2", "--jobs", "1")
    expect(s.returncode == 1 and sweep_totals(s)["failed"] == 2, "a sweep records both as failed runs", s.all)
    expect("wall-time limit" in s.stdout, "and says why", s.all)

    # A worker killed by the sweep's wall budget in the middle of a long run says where the run was.
    doc["limits"] = {}
    doc["phases"]["safety_duration_ms"] = 6000000  # about 10 s of wall time on a free core; the budget is 1.5 s
    with open(cli.path("long.json"), "w") as f:
        json.dump(doc, f)
    s = cli.run("sweep", "long.json", "--seeds", "1", "--jobs", "1", "--wall-budget-ms", "1500")
    expect(s.returncode == 1 and sweep_totals(s)["errors"] == 1, "the worker is an error", s.all)
    expect(re.search(r"kind=wall-budget", s.stdout) is not None, "killed for its wall budget", s.all)
    expect(re.search(r"the run was last seen at [0-9.]+ s of simulated time, after \d+ events, in the \w+ phase",
                     s.stdout) is not None, "the message says where the run was", s.all)


def case_interrupt_reports(cli):
    """An interrupted sweep of failing runs: every report the summary points at is whole and valid."""
    proc = subprocess.Popen([cli.binary, "sweep", cli.failing, "--seeds", "200000", "--jobs", "2", "--out", "out"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cli.tmp)
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.match(r"progress runs=(\d+)/200000", line)
        if m and int(m.group(1)) >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    text = "".join(lines) + out
    # Failed runs decide the exit status before the interruption does (1, not 130).
    expect(proc.returncode == 1, f"exit 1 (got {proc.returncode})", text + err)
    expect("interrupted: " in text, "the interruption is stated", text)
    summary = load(cli.path("out", "summary.json"))
    runs = summary["runs"]
    expect(summary["complete"] is False and len(runs) >= 3, f"the finished runs are summarized ({len(runs)})", text)
    for run in runs:
        expect(run["verdict"] == "fail" and run["report"], f"seed {run['seed']} failed and has a report folder", text)
        report = load(cli.path("out", run["report"], "report.json"))  # parses: written whole, then renamed
        expect(report["seed"] == run["seed"] and report["verdict"] == "fail", f"seed {run['seed']}: its own report")
        load(cli.path("out", run["report"], "history.json"))
    junit = ET.parse(cli.path("out", "junit.xml"))
    expect(len(junit.getroot().findall(".//testcase")) == len(runs), "junit.xml lists the same runs")


CASES = {name[len("case_"):].replace("_", "-"): fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(f"usage: cli_test.py {{{','.join(CASES)}}} REPLSIM SOURCE_ROOT", file=sys.stderr)
        return 2
    name, binary, root = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    tmp = tempfile.mkdtemp(prefix=f"replsim-cli-{name}-")
    try:
        result = CASES[name](Cli(binary, root, tmp))
    except Failure as e:
        print(f"FAILED {name}: {e}")
        print(f"(files kept in {tmp})")
        return 1
    if result == SKIP:
        print(f"skipped {name}")
        shutil.rmtree(tmp, ignore_errors=True)
        return SKIP
    print(f"ok {name}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
