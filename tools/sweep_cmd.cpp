// tools/sweep_cmd.cpp — `replsim sweep` and `replsim run --check-determinism`.
//
// sweep: validate every argument and load every scenario before running anything (a broken file is
// exit 2), run the planned (scenario, seed) pairs on the engine, show progress as it goes — a
// redrawn line on a terminal, a plain line every few seconds in a CI log — print each failure with
// its replay command as it happens, then write the summary outputs and end with the SWEEP line.
// Outputs are built from the records sorted by scenario and seed, never from completion order.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "reports/report.h"
#include "tools/commands.h"
#include "tools/sweep.h"

namespace replsim::tools {

namespace {

constexpr std::uint64_t kMaxRuns = 10'000'000;
constexpr double kPlainProgressInterval_s = 5.0;
constexpr double kRedrawInterval_s = 0.1;
constexpr int kExitInterrupted = 130;

std::string eta_text(const EngineProgress& p) {
  if (p.done == 0 || p.elapsed_s <= 0) return "?";
  const double rate = static_cast<double>(p.done) / p.elapsed_s;
  const auto left_s = static_cast<long long>(static_cast<double>(p.total - p.done) / rate + 0.5);
  if (left_s >= 3600) return fmt::format("{}h{:02}m", left_s / 3600, (left_s % 3600) / 60);
  if (left_s >= 60) return fmt::format("{}m{:02}s", left_s / 60, left_s % 60);
  return fmt::format("{}s", left_s);
}

double rate_of(const EngineProgress& p) { return p.elapsed_s > 0 ? static_cast<double>(p.done) / p.elapsed_s : 0.0; }

// Progress and failure lines while a sweep runs. On a terminal the progress line is redrawn in
// place and cleared before anything else is printed; elsewhere a plain line every few seconds.
class SweepDisplay {
 public:
  SweepDisplay(bool terminal, std::string out_dir) : terminal_(terminal), out_dir_(std::move(out_dir)) {}

  void on_outcome(const UnitOutcome& o, const EngineProgress& p) {
    if (o.record.outcome != Outcome::pass) {
      clear_line();
      print_failure(o.record, o.determinism_lines);
    }
    if (terminal_ && (!drawn_ || p.elapsed_s - last_draw_s_ >= kRedrawInterval_s)) draw(p);
  }

  void on_tick(const EngineProgress& p) {
    if (terminal_) {
      draw(p);
      return;
    }
    if (p.elapsed_s - last_plain_s_ >= kPlainProgressInterval_s) {
      last_plain_s_ = p.elapsed_s;
      std::printf("progress runs=%llu/%llu failed=%llu errors=%llu runs_per_s=%.1f eta=%s\n",
                  static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total),
                  static_cast<unsigned long long>(p.totals.failed), static_cast<unsigned long long>(p.totals.errors),
                  rate_of(p), eta_text(p).c_str());
      std::fflush(stdout);
    }
  }

  void clear_line() {
    if (terminal_ && drawn_) std::printf("\r\x1b[K");
    drawn_ = false;
  }

 private:
  void draw(const EngineProgress& p) {
    last_draw_s_ = p.elapsed_s;
    std::printf("\r\x1b[K[%llu/%llu] %.1f runs/s  failed=%llu errors=%llu  ETA %s",
                static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total), rate_of(p),
                static_cast<unsigned long long>(p.totals.failed), static_cast<unsigned long long>(p.totals.errors),
                eta_text(p).c_str());
    std::fflush(stdout);
    drawn_ = true;
  }

  void print_failure(const RunRecord& r, const std::vector<std::string>& determinism_lines) {
    if (r.outcome == Outcome::fail) {
      std::printf("FAIL scenario=%s seed=%llu check=%s trace_hash=%s events=%llu sim_ms=%lld wall_ms=%lld replay: %s\n",
                  r.scenario.c_str(), static_cast<unsigned long long>(r.seed), r.check.c_str(), r.trace_hash.c_str(),
                  static_cast<unsigned long long>(r.events), static_cast<long long>(r.sim_ms),
                  static_cast<long long>(r.wall_ms), r.replay.c_str());
    } else {
      std::printf("ERROR scenario=%s seed=%llu kind=%s wall_ms=%lld replay: %s\n", r.scenario.c_str(),
                  static_cast<unsigned long long>(r.seed), r.error_kind.c_str(), static_cast<long long>(r.wall_ms),
                  r.replay.c_str());
    }
    if (determinism_lines.empty()) {
      if (!r.message.empty()) std::printf("  %s\n", r.message.c_str());
    } else {
      for (const std::string& line : determinism_lines) std::printf("  %s\n", line.c_str());
    }
    if (!r.report.empty()) {
      const std::string dir = out_dir_ + "/" + r.report;
      if (std::filesystem::exists(dir + "/report.json")) {
        // The page to open first, then the command that reruns the seed.
        const bool html = std::filesystem::exists(dir + "/report.html");
        std::printf("  report: %s/%s  (replsim replay %s/report.json)\n", dir.c_str(), html ? "report.html" : "report.json",
                    dir.c_str());
      } else {
        std::printf("  details: %s/\n", dir.c_str());
      }
    }
    std::fflush(stdout);
  }

  bool terminal_;
  std::string out_dir_;
  bool drawn_ = false;
  double last_draw_s_ = 0;
  double last_plain_s_ = 0;
};

std::string write_outputs(const SweepSummary& summary, const SweepArgs& args) {
  const std::string json_text = summary_to_json(summary).dump(2) + "\n";
  const std::string junit_text = render_junit(summary);
  std::vector<std::pair<std::string, const std::string*>> files;
  if (!args.out_dir.empty()) {
    files.emplace_back(args.out_dir + "/summary.json", &json_text);
    files.emplace_back(args.out_dir + "/junit.xml", &junit_text);
  }
  if (!args.json_path.empty()) files.emplace_back(args.json_path, &json_text);
  if (!args.junit_path.empty()) files.emplace_back(args.junit_path, &junit_text);
  std::string errors;
  for (const auto& [path, text] : files) {
    if (std::string err = reports::write_file_atomic(path, *text); !err.empty()) {
      errors += (errors.empty() ? "" : "; ") + err;
    }
  }
  return errors;
}

}  // namespace

int sweep_command(const SweepArgs& args) {
  auto seeds = parse_seed_range(args.seeds);
  if (!seeds) return std::fprintf(stderr, "replsim: %s\n", seeds.status().message().c_str()), kExitUsage;
  Shard shard;
  if (!args.shard.empty()) {
    auto parsed = parse_shard(args.shard);
    if (!parsed) return std::fprintf(stderr, "replsim: %s\n", parsed.status().message().c_str()), kExitUsage;
    shard = parsed.value();
  }
  if (std::string err = check_bug_names(args.bugs); !err.empty()) {
    return std::fprintf(stderr, "replsim: %s\n", err.c_str()), kExitUsage;
  }
  if (args.wall_budget_ms <= 0) {
    return std::fprintf(stderr, "replsim: --wall-budget-ms must be positive\n"), kExitUsage;
  }
  if (args.memory_limit_mb < 0) {
    return std::fprintf(stderr, "replsim: --memory-limit-mb must be >= 0 (0: no limit)\n"), kExitUsage;
  }
  auto paths = expand_scenario_paths(args.inputs);
  if (!paths) return std::fprintf(stderr, "replsim: %s\n", paths.status().message().c_str()), kExitUsage;
  auto loaded = load_scenarios(paths.value());
  if (!loaded) return std::fprintf(stderr, "replsim: %s\n", loaded.status().message().c_str()), kExitUsage;
  const std::vector<ScenarioEntry>& scenarios = loaded.value();
  if (seeds.value().count() > kMaxRuns / scenarios.size() || seeds.value().count() == 0) {
    return std::fprintf(stderr, "replsim: %zu scenarios x %s seeds is more than %llu runs; split the seed range\n",
                        scenarios.size(), seeds.value().to_string().c_str(),
                        static_cast<unsigned long long>(kMaxRuns)),
           kExitUsage;
  }
  if (!args.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.out_dir, ec);
    if (ec) {
      return std::fprintf(stderr, "replsim: --out %s: cannot create the folder: %s\n", args.out_dir.c_str(),
                          ec.message().c_str()),
             kExitUsage;
    }
  }
  const std::vector<RunKey> keys = plan_runs(scenarios.size(), seeds.value(), shard);

  EngineOptions options;
  options.jobs = args.jobs == 0 ? available_cpus() : args.jobs;
  options.wall_budget_ms = args.wall_budget_ms;
  options.memory_limit_mb = args.memory_limit_mb;
  options.check_determinism = args.check_determinism;
  options.stop_on_first_fail = args.stop_on_first_fail;
  options.bugs = args.bugs;
  options.out_dir = args.out_dir;

  std::string bugs_text;
  for (const auto& b : args.bugs) bugs_text += (bugs_text.empty() ? "" : ",") + b;
  const std::int64_t limit_mb = effective_memory_limit_mb(options.memory_limit_mb);
  std::printf("sweep scenarios=%zu seeds=%s shard=%s runs=%zu jobs=%u bugs=%s determinism=%s "
              "wall_budget_ms=%lld memory_limit=%s\n",
              scenarios.size(), seeds.value().to_string().c_str(), shard.to_string().c_str(), keys.size(),
              options.jobs, bugs_text.empty() ? "none" : bugs_text.c_str(), args.check_determinism ? "on" : "off",
              static_cast<long long>(options.wall_budget_ms),
              limit_mb > 0 ? fmt::format("{}MiB", limit_mb).c_str()
                           : (options.memory_limit_mb > 0 ? "none(sanitizer build)" : "none"));
  std::fflush(stdout);

  SweepDisplay display(isatty(STDOUT_FILENO) != 0, args.out_dir);
  EngineObserver observer;
  observer.on_outcome = [&display](const UnitOutcome& o, const EngineProgress& p) { display.on_outcome(o, p); };
  observer.on_tick = [&display](const EngineProgress& p) { display.on_tick(p); };
  const EngineReport report = run_engine(scenarios, keys, options, observer);
  display.clear_line();

  SweepSummary summary;
  summary.binary = binary_id();
  summary.bugs = args.bugs;
  summary.seeds = seeds.value();
  summary.shard_count = shard.count;
  summary.shards = {shard.index};
  summary.check_determinism = args.check_determinism;
  summary.planned_runs = keys.size();
  summary.complete = !report.interrupted && !report.stopped_early;
  summary.wall_s = report.wall_s;
  for (const ScenarioEntry& e : scenarios) summary.scenarios.push_back({e.scenario.name, e.path, e.folder});
  for (const UnitOutcome& o : report.outcomes) summary.runs.push_back(o.record);
  std::sort(summary.runs.begin(), summary.runs.end(), record_before);

  for (const ScenarioEntry& e : scenarios) {
    const Totals t = summary.totals_for(e.path);
    std::printf("scenario %s (%s): runs=%llu passed=%llu failed=%llu errors=%llu\n", e.scenario.name.c_str(),
                e.path.c_str(), static_cast<unsigned long long>(t.runs), static_cast<unsigned long long>(t.passed),
                static_cast<unsigned long long>(t.failed), static_cast<unsigned long long>(t.errors));
  }
  const std::string write_errors = write_outputs(summary, args);
  if (!write_errors.empty()) std::fprintf(stderr, "replsim: %s\n", write_errors.c_str());
  if (!args.out_dir.empty()) std::printf("outputs: %s/summary.json %s/junit.xml\n", args.out_dir.c_str(), args.out_dir.c_str());
  if (!args.json_path.empty()) std::printf("json: %s\n", args.json_path.c_str());
  if (!args.junit_path.empty()) std::printf("junit: %s\n", args.junit_path.c_str());
  const Totals totals = summary.totals();
  if (report.interrupted) {
    std::printf("interrupted: %llu of %zu runs finished; the outputs cover those\n",
                static_cast<unsigned long long>(totals.runs), keys.size());
  } else if (report.stopped_early) {
    std::printf("stopped at the first failure (--stop-on-first-fail): %llu of %zu runs finished\n",
                static_cast<unsigned long long>(totals.runs), keys.size());
  }
  std::printf("%s\n", sweep_line(totals, report.wall_s).c_str());
  std::fflush(stdout);

  if (!write_errors.empty()) return kExitInternal;
  if (totals.failed > 0 || totals.errors > 0) return kExitFail;
  if (report.interrupted) return kExitInterrupted;
  return kExitPass;
}

int run_determinism_command(const RunArgs& args) {
  if (args.print_trace) {
    return std::fprintf(stderr, "replsim: --trace cannot be combined with --check-determinism (the runs happen in "
                                "worker processes); run the seed again with --trace\n"),
           kExitUsage;
  }
  auto loaded = sim::load_scenario_file(args.scenario_path);
  if (!loaded) return std::fprintf(stderr, "replsim: %s\n", loaded.status().message().c_str()), kExitUsage;
  if (std::string err = check_bug_names(args.bugs); !err.empty()) {
    return std::fprintf(stderr, "replsim: %s\n", err.c_str()), kExitUsage;
  }
  std::vector<ScenarioEntry> scenarios;
  scenarios.push_back(ScenarioEntry{args.scenario_path, ".", std::move(loaded.value())});
  const std::vector<RunKey> keys = {RunKey{0, args.seed}};

  std::printf("%s\n", seed_line(args.seed, scenarios[0].scenario, args.scenario_path, args.bugs).c_str());
  std::printf("determinism: running seed %llu twice, in two separate processes\n",
              static_cast<unsigned long long>(args.seed));
  std::fflush(stdout);

  EngineOptions options;
  options.jobs = 2;
  options.check_determinism = true;
  options.bugs = args.bugs;
  options.out_dir = args.out_dir;
  options.reports_for_every_run = true;
  options.single_run_layout = true;
  const EngineReport report = run_engine(scenarios, keys, options, EngineObserver{});
  if (report.outcomes.empty()) {
    std::printf("interrupted before the runs finished\n");
    return kExitInterrupted;
  }
  const UnitOutcome& o = report.outcomes.front();
  const RunRecord& r = o.record;
  if (r.outcome == Outcome::error) {
    std::fprintf(stderr, "replsim: internal error: %s\n%s", r.message.c_str(), r.detail.c_str());
    return kExitInternal;
  }
  for (const std::string& line : o.body_lines) std::printf("%s\n", line.c_str());
  for (const std::string& line : o.determinism_lines) std::printf("%s\n", line.c_str());
  if (!args.out_dir.empty()) {
    if (std::filesystem::exists(args.out_dir + "/report.json")) {
      std::printf("report: %s/report.json\n", args.out_dir.c_str());
    }
    if (std::filesystem::exists(args.out_dir + "/determinism.txt")) {
      std::printf("determinism report: %s/determinism.txt\n", args.out_dir.c_str());
    }
  }
  if (r.outcome == Outcome::pass) {
    std::printf("PASS seed=%llu trace_hash=%s events=%llu sim_ms=%lld wall_ms=%lld\n",
                static_cast<unsigned long long>(r.seed), r.trace_hash.c_str(),
                static_cast<unsigned long long>(r.events), static_cast<long long>(r.sim_ms),
                static_cast<long long>(r.wall_ms));
    return kExitPass;
  }
  std::printf("FAIL seed=%llu check=%s trace_hash=%s events=%llu sim_ms=%lld wall_ms=%lld replay: %s\n",
              static_cast<unsigned long long>(r.seed), r.check.c_str(), r.trace_hash.c_str(),
              static_cast<unsigned long long>(r.events), static_cast<long long>(r.sim_ms),
              static_cast<long long>(r.wall_ms), r.replay.c_str());
  return kExitFail;
}

}  // namespace replsim::tools
