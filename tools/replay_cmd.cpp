// tools/replay_cmd.cpp — `replsim replay DIR/report.json [--trace] [--out DIR]`.
//
// Reruns exactly the run a report describes — the scenario embedded in the report (not the file it
// came from, which may have changed since), its seed and its bug switches — prints the usual run
// output and says whether the trace hash matches the report's. A report from another format version,
// or with a missing or mistyped field, is refused with the file and the field named (exit 2).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "reports/report.h"
#include "tools/commands.h"
#include "tools/run_limits.h"
#include "tools/sweep.h"

namespace replsim::tools {

namespace {

using WallClock = std::chrono::steady_clock;

bool is_hex16(const std::string& s) {
  return s.size() == 16 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

core::Result<ReplayInputs> read_replay_report(const nlohmann::json& report, const std::string& file) {
  JsonFields f(report, file);
  if (!f.ok()) {
    return {core::Err::invalid, fmt::format("{}: expected a JSON object (a report.json written by `replsim run "
                                            "--out` or `replsim sweep --out`)", file)};
  }
  const std::string tool = f.str("tool", false);
  if (f.ok() && report.contains("tool") && tool != "replsim") {
    return {core::Err::invalid, fmt::format("{}: field `tool`: expected \"replsim\", found \"{}\"", file, tool)};
  }
  const nlohmann::json* version = f.get("format_version", false);
  if (version == nullptr) {
    return {core::Err::invalid, fmt::format("{}: field `format_version`: missing (is this a report.json written by "
                                            "replsim?)", file)};
  }
  if (!version->is_number_integer() || version->get<std::int64_t>() != reports::kReportFormatVersion) {
    std::string writer = "an unknown binary";
    if (report.contains("binary") && report["binary"].is_string()) writer = "`" + report["binary"].get<std::string>() + "`";
    return {core::Err::invalid,
            fmt::format("{}: field `format_version`: this replsim reads report format {}, the file has {} (written "
                        "by {}); replay it with the replsim that wrote it", file, reports::kReportFormatVersion,
                        version->dump(), writer)};
  }
  ReplayInputs in;
  in.binary = f.str("binary");
  in.seed = f.u64("seed");
  in.bugs = f.strings("bugs");
  const nlohmann::json* scenario = f.object("scenario");
  in.trace_hash = f.str("trace_hash");
  in.verdict = f.str("verdict");
  in.failed_check = f.str("failed_check");
  in.scenario_path = f.str("scenario_path", false);
  in.replay = f.str("replay", false);
  if (f.ok() && !is_hex16(in.trace_hash)) {
    f.fail("trace_hash", fmt::format("expected 16 lowercase hex digits, found \"{}\"", in.trace_hash));
  }
  if (f.ok() && in.verdict != "pass" && in.verdict != "fail" && in.verdict != "error") {
    f.fail("verdict", fmt::format("expected pass, fail or error, found \"{}\"", in.verdict));
  }
  if (!f.ok()) return {core::Err::invalid, f.error()};
  if (std::string err = check_bug_names(in.bugs); !err.empty()) {
    return {core::Err::invalid, fmt::format("{}: field `bugs`: {}", file, err)};
  }
  auto loaded = sim::load_scenario_json(*scenario, file + " (embedded scenario)");
  if (!loaded) return loaded.status();
  in.scenario = std::move(loaded.value());
  return in;
}

core::Result<ReplayInputs> read_replay_report_text(std::string_view text, const std::string& file) {
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error for bad syntax, out_of_range.406 for a number too large for a double ("1E999",
    // found by tools/fuzz): both mean the file is no report.json.
    return {core::Err::invalid, fmt::format("{}: not valid JSON: {} (a report.json written by `replsim run --out` "
                                            "or `replsim sweep --out` is expected)", file, e.what())};
  }
  return read_replay_report(report, file);
}

int replay_report_command(const ReplayArgs& args) {
  std::ifstream file(args.report_path, std::ios::binary);
  if (!file) {
    return std::fprintf(stderr, "replsim: %s: cannot read the report\n", args.report_path.c_str()), kExitUsage;
  }
  std::stringstream text;
  text << file.rdbuf();
  auto read = read_replay_report_text(text.str(), args.report_path);
  if (!read) return std::fprintf(stderr, "replsim: %s\n", read.status().message().c_str()), kExitUsage;
  const ReplayInputs& in = read.value();
  if (in.binary != binary_id()) {
    std::fprintf(stderr,
                 "replsim: warning: %s was written by `%s`; this is `%s`. If the simulator or the store changed "
                 "in between, the run may differ.\n",
                 args.report_path.c_str(), in.binary.c_str(), binary_id().c_str());
  }

  std::printf("%s\n", seed_line(in.seed, in.scenario, args.report_path, in.bugs).c_str());
  std::fflush(stdout);
  sim::RunOptions options;
  options.seed = in.seed;
  options.bugs = in.bugs;
  std::optional<reports::RunFilesWriter> files;
  if (!args.out_dir.empty()) {
    files.emplace(args.out_dir, in.scenario);
    if (std::string err = files->open(); !err.empty()) std::fprintf(stderr, "replsim: %s\n", err.c_str());
  }
  if (args.print_trace || files) {
    options.trace_sink = [&args, &files](const kernel::TraceEvent& ev) {
      if (args.print_trace) std::printf("%s\n", ev.to_text().c_str());
      if (files) files->on_event(ev);
    };
  }
  RunPosition position;
  options.watchdog = make_run_watchdog(in.scenario.limits.wall_time_ms, &position);
  arm_stuck_run_alarm(in.scenario.limits.wall_time_ms, &position);
  const auto start = WallClock::now();
  const sim::RunResult result = sim::run_scenario(in.scenario, options);
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(WallClock::now() - start).count();
  disarm_stuck_run_alarm();
  for (const std::string& line : run_body_lines(result)) std::printf("%s\n", line.c_str());

  const std::string replay = "replsim replay " + shell_quoted(args.report_path);
  if (!args.out_dir.empty()) {
    reports::ReportInputs out;
    out.scenario = &in.scenario;
    out.scenario_path = in.scenario_path;
    out.seed = in.seed;
    out.bugs = in.bugs;
    out.result = &result;
    out.replay_command = in.replay.empty() ? replay : in.replay;
    out.wall_ms = wall_ms;
    out.binary_id = binary_id();
    if (std::string err = files->finish(out); !err.empty()) {
      std::fprintf(stderr, "replsim: cannot write the report: %s\n", err.c_str());
    } else {
      std::printf("report: %s/report.json %s/report.html\n", args.out_dir.c_str(), args.out_dir.c_str());
    }
  }
  std::printf("%s\n", verdict_line(in.seed, result, wall_ms, replay).c_str());

  const std::string hash = kernel::hex64(result.trace_hash);
  const std::string verdict(sim::verdict_name(result.verdict));
  const std::string check = result.verdict == sim::Verdict::error ? "run-limit" : result.first_failed_check();
  const bool same_hash = hash == in.trace_hash;
  const bool same_verdict = verdict == in.verdict && (in.verdict == "error" || check == in.failed_check);
  if (same_hash && same_verdict) {
    std::printf("REPLAY reproduced: trace_hash=%s verdict=%s%s matches %s\n", hash.c_str(), verdict.c_str(),
                check.empty() ? "" : (" check=" + check).c_str(), args.report_path.c_str());
    std::fflush(stdout);
    return result.verdict == sim::Verdict::pass ? kExitPass : kExitFail;
  }
  std::printf("REPLAY MISMATCH: this run gave trace_hash=%s verdict=%s%s, the report has trace_hash=%s "
              "verdict=%s%s — the run did not reproduce%s\n",
              hash.c_str(), verdict.c_str(), check.empty() ? "" : (" check=" + check).c_str(), in.trace_hash.c_str(),
              in.verdict.c_str(), in.failed_check.empty() ? "" : (" check=" + in.failed_check).c_str(),
              in.binary != binary_id() ? " (the report comes from a different binary)" : " (nondeterminism: try "
                                                                                         "`replsim run --check-determinism`)");
  std::fflush(stdout);
  return kExitFail;
}

}  // namespace replsim::tools
