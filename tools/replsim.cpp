// tools/replsim.cpp — the replsim command line (DESIGN.md section 6).
//
// Parses arguments with CLI11 and hands each subcommand to its module. Exit codes are the contract:
// 0 pass, 1 a check failed, 2 bad usage or bad scenario file, 3 internal error.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#if REPLSIM_TCMALLOC
#include <gperftools/malloc_extension.h>
#endif

#include "sim/kernel/demo.h"
#include "sim/kernel/trace.h"
#include "tools/bench.h"
#include "tools/commands.h"
#include "tools/shrink.h"

namespace {

using replsim::tools::kExitInternal;
using replsim::tools::kExitUsage;

// `replsim demo`: the kernel demonstration run, printed in the run contract's shape.
int run_demo_command(std::uint64_t seed, bool print_trace) {
  using WallClock = std::chrono::steady_clock;
  std::printf("SEED=%llu scenario=kernel-demo nodes=4 senders_per_node=2 messages_per_sender=60 faults=on\n",
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  replsim::kernel::DemoOptions options;
  options.seed = seed;
  if (print_trace) {
    options.trace_sink = [](const replsim::kernel::TraceEvent& ev) {
      std::printf("%s\n", ev.to_text().c_str());
    };
  }
  const auto start = WallClock::now();
  const replsim::kernel::DemoResult r = replsim::kernel::run_demo(options);
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(WallClock::now() - start).count();
  std::printf("stats messages=%llu acked=%llu disk_writes=%llu crashes=%llu restarts=%llu pauses=%llu "
              "partitions=%llu fiber_switches=%llu\n",
              static_cast<unsigned long long>(r.messages_sent), static_cast<unsigned long long>(r.acked),
              static_cast<unsigned long long>(r.disk_writes), static_cast<unsigned long long>(r.crashes),
              static_cast<unsigned long long>(r.restarts), static_cast<unsigned long long>(r.pauses),
              static_cast<unsigned long long>(r.partitions),
              static_cast<unsigned long long>(r.fiber_switches));
  const auto sim_ms = static_cast<long long>(r.sim_ns / 1'000'000);
  if (!r.lost_acked.empty()) {
    std::printf("lost acknowledged message: %s\n", r.lost_acked.front().c_str());
    std::printf("FAIL seed=%llu check=acknowledged-writes-durable trace_hash=%s events=%llu sim_ms=%lld "
                "wall_ms=%lld replay: replsim demo --seed %llu\n",
                static_cast<unsigned long long>(seed), replsim::kernel::hex64(r.trace_hash).c_str(),
                static_cast<unsigned long long>(r.trace_events), sim_ms, static_cast<long long>(wall_ms),
                static_cast<unsigned long long>(seed));
    return 1;
  }
  std::printf("PASS seed=%llu trace_hash=%s events=%llu sim_ms=%lld wall_ms=%lld\n",
              static_cast<unsigned long long>(seed), replsim::kernel::hex64(r.trace_hash).c_str(),
              static_cast<unsigned long long>(r.trace_events), sim_ms, static_cast<long long>(wall_ms));
  return 0;
}

constexpr const char* kDescription =
    "replsim — deterministic simulation testing for replicated key-value stores.\n"
    "Same seed, same binary => the same run, event for event.\n";

}  // namespace

int main(int argc, char** argv) {
#if REPLSIM_TCMALLOC
  // tcmalloc's thread caches may hold up to 32 MiB of freed memory, sized for many threads; replsim
  // runs one, and that cache only raised the peak RSS of long runs (1000 simulated s: 133 -> 113 MiB,
  // the system allocator's figure, with no measurable cost in speed).
  MallocExtension::instance()->SetNumericProperty("tcmalloc.max_total_thread_cache_bytes", 1u << 20);
#endif
  CLI::App app{kDescription, "replsim"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "replsim 0.1.0");

  replsim::tools::BenchOptions bench_options;
  std::string bench_target;
  CLI::App* bench = app.add_subcommand("bench", "Run a benchmark and print one name=value figure a line.");
  bench->add_option("target", bench_target,
                    "What to measure: kernel (fiber switches, timers, messages), e2e (whole runs of each "
                    "scenario), scaling (3..81 nodes, 10..1000 simulated seconds), compare (a failover cycle "
                    "against real redis-server processes and in replsim)")
      ->required()
      ->check(CLI::IsMember({"kernel", "e2e", "scaling", "compare"}));
  bench->add_option("paths", bench_options.paths, "e2e: scenario files or folders (default scenarios/fuzz)");
  bench->add_option("--redis-server", bench_options.redis_server,
                    "compare: the redis-server binary (default: redis-server on PATH)");
  bench->add_option("--scale", bench_options.scale,
                    "Multiply the amount of work (e.g. 0.1 for a quick smoke run)")
      ->check(CLI::PositiveNumber);

  std::uint64_t demo_seed = 1;
  bool demo_trace = false;
  CLI::App* demo = app.add_subcommand(
      "demo", "Run the kernel demonstration: nodes that log and acknowledge messages under crashes, "
              "restarts, pauses and partitions. Prints SEED= first and the trace hash last.");
  demo->add_option("--seed", demo_seed, "The run's seed");
  demo->add_flag("--trace", demo_trace, "Print every trace event");

  replsim::tools::RunArgs run_args;
  CLI::App* run = app.add_subcommand(
      "run", "Run one scenario with one seed. Prints SEED= and the derived parameters first, the "
             "violations, and PASS or FAIL last. Exit 0 pass, 1 a check failed, 2 bad input.");
  run->add_option("scenario", run_args.scenario_path, "Scenario file (JSON)")->required();
  run->add_option("--seed", run_args.seed, "The run's seed (default 1)");
  run->add_option("--bug", run_args.bugs, "Switch on a known bug (repeatable; see `replsim bugs`)");
  run->add_option("--out", run_args.out_dir, "Write report.html, report.json, history.json and trace.jsonl here");
  run->add_flag("--trace", run_args.print_trace, "Print every trace event");
  run->add_flag("--check-determinism", run_args.check_determinism,
                "Run the seed twice in separate processes and compare the per-event trace hashes");

  replsim::tools::SweepArgs sweep_args;
  CLI::App* sweep = app.add_subcommand(
      "sweep", "Run every scenario over a range of seeds in forked worker processes. Prints each failure "
               "with its replay command as it happens, and the SWEEP line last. Exit 0 all passed, 1 a run "
               "failed or errored, 2 bad input, 130 interrupted.");
  sweep->add_option("scenarios", sweep_args.inputs, "Scenario files and folders (searched for *.json)")->required();
  sweep->add_option("--seeds", sweep_args.seeds, "N (seeds 1..N) or A..B (default 100)");
  sweep->add_option("--jobs,-j", sweep_args.jobs, "Worker processes at a time (default: one per CPU)");
  sweep->add_option("--shard", sweep_args.shard, "Run only shard K of N (K/N) of the sorted (scenario, seed) list");
  sweep->add_option("--bug", sweep_args.bugs, "Switch on a known bug (repeatable)");
  sweep->add_option("--out", sweep_args.out_dir,
                    "Write summary.json, junit.xml and a folder per failing run (report.html, report.json, "
                    "history.json, trace.jsonl) here");
  sweep->add_option("--junit", sweep_args.junit_path, "Write a JUnit XML file");
  sweep->add_option("--json", sweep_args.json_path, "Write the machine-readable summary");
  sweep->add_flag("--stop-on-first-fail", sweep_args.stop_on_first_fail,
                  "Stop at the first failing or erroring run (runs in flight are cancelled)");
  sweep->add_flag("--check-determinism", sweep_args.check_determinism,
                  "Run each seed twice in separate processes and compare the per-event trace hashes");
  sweep->add_option("--wall-budget-ms", sweep_args.wall_budget_ms,
                    "Kill a worker that runs longer than this and record an error (default 300000)");
  sweep->add_option("--memory-limit-mb", sweep_args.memory_limit_mb,
                    "Address-space limit per worker; 0 for none (default 2048; not applied in sanitizer builds)");

  replsim::tools::ReplayArgs replay_args;
  CLI::App* replay = app.add_subcommand(
      "replay", "Rerun the run a report.json describes (its embedded scenario, seed and bugs) and check that "
                "the trace hash matches. Exit 0 reproduced a pass, 1 reproduced a failure or did not "
                "reproduce, 2 bad report.");
  replay->add_option("report", replay_args.report_path, "A report.json")->required();
  replay->add_flag("--trace", replay_args.print_trace, "Print every trace event");
  replay->add_option("--out", replay_args.out_dir, "Write report.html, report.json, history.json and trace.jsonl here");

  replsim::tools::MergeArgs merge_args;
  CLI::App* merge = app.add_subcommand(
      "merge", "Join the --out folders of sharded sweeps into one summary.json, junit.xml and set of failing-run "
               "folders. Exit 0 all passed and every shard present, 1 otherwise, 2 bad input.");
  merge->add_option("inputs", merge_args.inputs, "Shard --out folders (or their summary.json files)")->required();
  merge->add_option("--out", merge_args.out_dir, "Where the merged outputs go")->required();

  replsim::tools::ShrinkArgs shrink_args;
  CLI::App* shrink = app.add_subcommand(
      "shrink", "Turn a failing run's report.json into a small scripted scenario (no swarm generators) that "
                "fails the same check: delta debugging over the recorded faults, then a shorter workload and "
                "fewer replica nodes. Exit 0 written, 1 the failure does not reproduce as a script, 2 bad input.");
  shrink->add_option("report", shrink_args.report_path, "The report.json of a failing run")->required();
  shrink->add_option("--out", shrink_args.out_path, "Where the shrunk scenario goes (e.g. MIN.json)")->required();
  shrink->add_option("--jobs,-j", shrink_args.jobs, "Candidates run at a time (default: one per CPU)");
  shrink->add_option("--max-trials", shrink_args.max_trials,
                     "Most candidates delta debugging may run over the faults (default 400)")
      ->check(CLI::PositiveNumber);

  CLI::App* checks = app.add_subcommand("checks", "List the checks with their ids and meaning.");
  CLI::App* bugs = app.add_subcommand(
      "bugs", "List the known-bug switches (--bug NAME): incident, upstream issue, the check that catches it.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  try {
    if (demo->parsed()) return run_demo_command(demo_seed, demo_trace);
    if (run->parsed() && run_args.check_determinism) return replsim::tools::run_determinism_command(run_args);
    if (run->parsed()) return replsim::tools::run_command(run_args);
    if (sweep->parsed()) return replsim::tools::sweep_command(sweep_args);
    if (replay->parsed()) return replsim::tools::replay_report_command(replay_args);
    if (merge->parsed()) return replsim::tools::merge_command(merge_args);
    if (shrink->parsed()) return replsim::tools::shrink_command(shrink_args);
    if (checks->parsed()) return replsim::tools::checks_command();
    if (bugs->parsed()) return replsim::tools::bugs_command();
    if (bench->parsed()) {
      if (bench_target == "kernel") return replsim::tools::bench_kernel(bench_options);
      if (bench_target == "e2e") return replsim::tools::bench_e2e(bench_options);
      if (bench_target == "scaling") return replsim::tools::bench_scaling(bench_options);
      if (bench_target == "compare") return replsim::tools::bench_compare(bench_options);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "replsim: internal error: %s\n", e.what());
    return kExitInternal;
  }
  return kExitUsage;
}
