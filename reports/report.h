// reports/report.h — report.json and its companions for one run.
//
// report.json holds everything needed to understand and replay a run: the normalized scenario, seed,
// bug switches, verdict, violations (check id, time, node, message, evidence), trace hash, stats, the
// fault decision log, the swarm choices, the nodes' final state, the last trace events and the replay
// command. Next to it go history.json (every client operation), trace.jsonl (every event) and
// report.html (the run as a picture, reports/html.h). Files are written atomically (temporary file,
// then rename), so a reader never sees half a report.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/timeline.h"
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

// Writes dir/report.html for the run, drawn from its timeline. Returns "" or an error message.
std::string write_html_report(const std::string& dir, const ReportInputs& in, const Timeline& timeline);

// The lanes a scenario's nodes get, in the scenario's order.
std::vector<NodeLaneSpec> node_lanes(const sim::Scenario& scenario);

// Writes the four files of one run into one folder: trace.jsonl while the run goes (it is the
// run's trace sink), then report.json, history.json and report.html once it is over. Used by run,
// replay and the sweep's failing runs alike, so they all leave the same files.
class RunFilesWriter {
 public:
  RunFilesWriter(std::string dir, const sim::Scenario& scenario);
  ~RunFilesWriter();
  RunFilesWriter(const RunFilesWriter&) = delete;
  RunFilesWriter& operator=(const RunFilesWriter&) = delete;

  // Creates the folder and opens trace.jsonl.tmp. Returns "" or a message naming the file; the
  // other files are still written after a failure here.
  std::string open();
  // The trace sink: one line into trace.jsonl, one event into the timeline.
  void on_event(const kernel::TraceEvent& ev);
  // Moves trace.jsonl into place, then writes report.json, history.json and report.html.
  // Returns "" or the first error (naming the file).
  std::string finish(const ReportInputs& in);

 private:
  std::string dir_;
  TimelineBuilder timeline_;
  std::FILE* trace_ = nullptr;
  bool trace_failed_ = false;
};

}  // namespace replsim::reports
