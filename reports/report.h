// reports/report.h — report.json and its companions for one run.
//
// report.json holds everything needed to understand and replay a run: the normalized scenario, seed,
// bug switches, verdict, violations (check id, time, node, message, evidence), trace hash, stats, the
// fault decision log, the swarm choices, the nodes' final state, the last trace events and the replay
// command. Files are written atomically (temporary file, then rename), so a reader never sees half a
// report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/run.h"
#include "sim/scenario.h"

namespace replsim::reports {

inline constexpr int kReportFormatVersion = 1;

struct ReportInputs {
  const sim::Scenario* scenario = nullptr;
  std::string scenario_path;
  std::uint64_t seed = 0;
  std::vector<std::string> bugs;
  const sim::RunResult* result = nullptr;
  std::string replay_command;
  std::int64_t wall_ms = 0;
  std::string binary_id;  // identifies the binary that wrote the report (for replay warnings)
};

nlohmann::json build_report(const ReportInputs& in);

// Writes text to path via path.tmp + rename. Returns "" on success, else a message naming the file.
std::string write_file_atomic(const std::string& path, const std::string& text);

// Writes report.json and history.json into dir (created if missing). Returns "" or an error message.
std::string write_run_reports(const std::string& dir, const ReportInputs& in);

}  // namespace replsim::reports
