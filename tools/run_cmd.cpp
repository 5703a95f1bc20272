// tools/run_cmd.cpp — `replsim run` and `replsim checks`.
//
// run: load the scenario (exit 2 with one clear line when it is broken), print SEED= and every
// derived parameter first, run, print each violation, write the reports when asked, and end with the
// PASS or FAIL line of DESIGN.md section 6.
#include "tools/commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <xxhash.h>

#include "core/known_bugs.h"
#include "reports/report.h"
#include "sim/checks/check.h"
#include "sim/run.h"
#include "sim/scenario.h"
#include "tools/run_limits.h"

namespace replsim::tools {

namespace {

using WallClock = std::chrono::steady_clock;

std::string shell_quote(const std::string& s) {
  if (s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:") ==
      std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string replay_command(const std::string& scenario_path, std::uint64_t seed,
                           const std::vector<std::string>& bugs) {
  std::string cmd = fmt::format("replsim run {} --seed {}", shell_quote(scenario_path), seed);
  for (const std::string& b : bugs) cmd += " --bug " + shell_quote(b);
  return cmd;
}

int run_command(const RunArgs& args) {
  auto loaded = sim::load_scenario_file(args.scenario_path);
  if (!loaded) {
    std::fprintf(stderr, "replsim: %s\n", loaded.status().message().c_str());
    return kExitUsage;
  }
  const sim::Scenario& scenario = loaded.value();
  for (const std::string& bug : args.bugs) {
    const auto& known = sim::scenario_bug_names();
    if (std::find(known.begin(), known.end(), bug) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      std::fprintf(stderr, "replsim: --bug %s: unknown bug switch (known: %s; see `replsim bugs`)\n",
                   bug.c_str(), list.c_str());
      return kExitUsage;
    }
  }

  std::string bugs_text;
  for (const auto& b : args.bugs) bugs_text += (bugs_text.empty() ? "" : ",") + b;
  std::printf("SEED=%llu scenario=%s file=%s bugs=%s %s\n", static_cast<unsigned long long>(args.seed),
              scenario.name.c_str(), args.scenario_path.c_str(), bugs_text.empty() ? "none" : bugs_text.c_str(),
              sim::derived_parameters(scenario, args.seed).c_str());
  std::fflush(stdout);

  sim::RunOptions options;
  options.seed = args.seed;
  options.bugs = args.bugs;
  // --out: trace.jsonl streams while the run goes; the other files are written once it is over.
  std::optional<reports::RunFilesWriter> files;
  if (!args.out_dir.empty()) {
    files.emplace(args.out_dir, scenario);
    if (auto err = files->open(); !err.empty()) std::fprintf(stderr, "replsim: %s\n", err.c_str());
  }
  if (args.print_trace || files) {
    options.trace_sink = [&args, &files](const kernel::TraceEvent& ev) {
      if (args.print_trace) std::printf("%s\n", ev.to_text().c_str());
      if (files) files->on_event(ev);
    };
  }
  RunPosition position;
  options.watchdog = make_run_watchdog(scenario.limits.wall_time_ms, &position);
  arm_stuck_run_alarm(scenario.limits.wall_time_ms, &position);
  const auto start = WallClock::now();
  const sim::RunResult result = sim::run_scenario(scenario, options);
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(WallClock::now() - start).count();
  disarm_stuck_run_alarm();

  const auto& st = result.stats;
  std::printf("stats ops=%llu ok=%llu failed=%llu unknown=%llu faults=%llu crashes=%llu messages=%llu\n",
              static_cast<unsigned long long>(st.ops_invoked), static_cast<unsigned long long>(st.ops_ok),
              static_cast<unsigned long long>(st.ops_failed), static_cast<unsigned long long>(st.ops_unknown),
              static_cast<unsigned long long>(st.faults), static_cast<unsigned long long>(st.crashes),
              static_cast<unsigned long long>(st.messages));
  if (!result.error.empty()) std::printf("run error: %s\n", result.error.c_str());
  for (const sim::Violation& v : result.violations) {
    std::printf("violation %s at %.3fs on %s: %s\n", v.check.c_str(),
                v.time_ns < 0 ? -1.0 : static_cast<double>(v.time_ns) / 1e9, v.node.empty() ? "-" : v.node.c_str(),
                v.message.c_str());
  }

  std::string replay = replay_command(args.scenario_path, args.seed, args.bugs);
  if (!args.out_dir.empty()) {
    reports::ReportInputs in;
    in.scenario = &scenario;
    in.scenario_path = args.scenario_path;
    in.seed = args.seed;
    in.bugs = args.bugs;
    in.result = &result;
    in.replay_command = replay;
    in.wall_ms = wall_ms;
    in.binary_id = binary_id();
    if (auto err = files->finish(in); !err.empty()) {
      std::fprintf(stderr, "replsim: cannot write the report: %s\n", err.c_str());
    } else {
      std::printf("report: %s/report.json %s/report.html\n", args.out_dir.c_str(), args.out_dir.c_str());
    }
  }

  const auto sim_ms = static_cast<long long>(st.sim_ns / 1'000'000);
  if (result.verdict == sim::Verdict::pass) {
    std::printf("PASS seed=%llu trace_hash=%s events=%llu sim_ms=%lld wall_ms=%lld\n",
                static_cast<unsigned long long>(args.seed), kernel::hex64(result.trace_hash).c_str(),
                static_cast<unsigned long long>(st.trace_events), sim_ms, static_cast<long long>(wall_ms));
    return kExitPass;
  }
  const std::string check = result.verdict == sim::Verdict::error ? "run-limit" : result.first_failed_check();
  std::printf("FAIL seed=%llu check=%s trace_hash=%s events=%llu sim_ms=%lld wall_ms=%lld replay: %s\n",
              static_cast<unsigned long long>(args.seed), check.c_str(), kernel::hex64(result.trace_hash).c_str(),
              static_cast<unsigned long long>(st.trace_events), sim_ms, static_cast<long long>(wall_ms),
              replay.c_str());
  return kExitFail;
}

namespace {

// xxh64 of this executable's bytes, or "" when it cannot be read.
std::string executable_hash() {
  std::FILE* f = std::fopen("/proc/self/exe", "rb");
  if (f == nullptr) return {};
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  std::vector<char> buf(1 << 16);
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) XXH64_update(state, buf.data(), n);
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  const XXH64_hash_t h = XXH64_digest(state);
  XXH64_freeState(state);
  return ok ? kernel::hex64(h) : std::string();
}

}  // namespace

// The executable's content hash changes with any rebuild that changes code, unlike a compile date,
// so replay can tell a report written by another build. Computed once (sweeps call it before they
// fork, so workers inherit the value).
std::string binary_id() {
  static const std::string id = [] {
    const std::string hash = executable_hash();
    return hash.empty() ? fmt::format("replsim 0.1.0 built {} {}", __DATE__, __TIME__)
                        : fmt::format("replsim 0.1.0 exe-xxh64={}", hash);
  }();
  return id;
}

int checks_command() {
  for (const sim::CheckInfo& c : sim::check_catalogue()) {
    std::printf("%-28s %s\n%-28s   from: %s\n", std::string(c.id).c_str(), std::string(c.meaning).c_str(), "",
                std::string(c.source).c_str());
  }
  return kExitPass;
}

int bugs_command() {
  for (const core::KnownBugInfo& b : core::known_bug_catalogue()) {
    std::printf("%-30s incident %s (%s); caught by %s\n%-30s   %s\n", std::string(b.name).c_str(),
                std::string(b.incident).c_str(), std::string(b.upstream).c_str(), std::string(b.check).c_str(), "",
                std::string(b.mechanism).c_str());
  }
  std::printf("\nSwitch one on with --bug NAME on run or sweep (repeatable); every switch is off by default.\n");
  return kExitPass;
}

}  // namespace replsim::tools
