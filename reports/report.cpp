// reports/report.cpp — building and atomically writing report.json and history.json.
#include "reports/report.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "reports/html.h"
#include "sim/kernel/trace.h"

namespace replsim::reports {

nlohmann::json build_report(const ReportInputs& in) {
  const sim::RunResult& r = *in.result;
  nlohmann::json j;
  j["format_version"] = kReportFormatVersion;
  j["tool"] = "replsim";
  j["binary"] = in.binary_id;
  j["scenario_path"] = in.scenario_path;
  j["scenario"] = sim::scenario_to_json(*in.scenario);
  j["seed"] = in.seed;
  j["bugs"] = in.bugs;
  j["verdict"] = sim::verdict_name(r.verdict);
  if (!r.error.empty()) j["error"] = r.error;
  if (r.limit) {
    j["limit"] = {{"kind", r.limit->kind}, {"phase", r.limit->phase}, {"sim_ms", r.limit->sim_ns / 1'000'000},
                  {"events", r.limit->events}};
  }
  j["failed_check"] = r.first_failed_check();
  nlohmann::json violations = nlohmann::json::array();
  for (const sim::Violation& v : r.violations) violations.push_back(v.to_json());
  j["violations"] = violations;
  j["trace_hash"] = kernel::hex64(r.trace_hash);
  j["stats"] = r.stats.to_json();
  j["wall_ms"] = in.wall_ms;
  j["swarm"] = r.swarm.to_json();
  nlohmann::json decisions = nlohmann::json::array();
  for (const sim::Decision& d : r.decisions) decisions.push_back(d.to_json());
  j["decisions"] = decisions;
  nlohmann::json finals = nlohmann::json::array();
  for (const sim::NodeFinal& f : r.finals) {
    finals.push_back({{"node", f.node}, {"cluster", f.cluster}, {"up", f.up}, {"start_error", f.start_error},
                      {"role", f.role}, {"primary", f.primary}, {"recovering", f.recovering},
                      {"digest", kernel::hex64(f.digest)}, {"aof_begin", f.aof_begin}, {"aof_tail", f.aof_tail},
                      {"last_decree", f.last_decree}, {"checkpoint_decrees", f.checkpoint_decrees}});
    // A source node's duplications (core/doc/duplication.md), when it has any.
    nlohmann::json dups = nlohmann::json::array();
    for (const sim::DuplicationFinal& d : f.duplications) {
      dups.push_back({{"id", d.id}, {"stream", d.stream}, {"state", d.state}, {"orphaned", d.orphaned},
                      {"min_checkpoint_decree", d.min_checkpoint_decree}, {"confirmed_decree", d.confirmed_decree},
                      {"shipped_decree", d.shipped_decree}, {"last_error", d.last_error}});
    }
    if (!dups.empty()) finals.back()["duplications"] = dups;
  }
  j["nodes"] = finals;
  nlohmann::json recent = nlohmann::json::array();
  for (const kernel::TraceEvent& ev : r.recent_events) recent.push_back(nlohmann::json::parse(ev.to_json()));
  j["recent_events"] = recent;
  j["replay"] = in.replay_command;
  return j;
}

std::string write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return fmt::format("{}: cannot open for writing: {}", tmp, std::strerror(errno));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) return fmt::format("{}: write failed: {}", tmp, std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fmt::format("{}: cannot rename into place: {}", path, ec.message());
  return {};
}

std::string write_run_reports(const std::string& dir, const ReportInputs& in) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fmt::format("{}: cannot create directory: {}", dir, ec.message());
  if (auto err = write_file_atomic(dir + "/report.json", build_report(in).dump(2) + "\n"); !err.empty()) {
    return err;
  }
  return write_file_atomic(dir + "/history.json", in.result->history.to_json().dump(1) + "\n");
}

std::string write_html_report(const std::string& dir, const ReportInputs& in, const Timeline& timeline) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fmt::format("{}: cannot create directory: {}", dir, ec.message());
  return write_file_atomic(dir + "/report.html", render_html(build_report(in), in.result->history, timeline));
}

std::vector<NodeLaneSpec> node_lanes(const sim::Scenario& scenario) {
  std::vector<NodeLaneSpec> out;
  for (const sim::ClusterSpec& c : scenario.clusters) {
    for (const sim::NodeSpec& n : c.nodes) out.push_back({n.name, c.name});
  }
  return out;
}

RunFilesWriter::RunFilesWriter(std::string dir, const sim::Scenario& scenario)
    : dir_(std::move(dir)), timeline_(node_lanes(scenario)) {}

RunFilesWriter::~RunFilesWriter() {
  if (trace_ != nullptr) std::fclose(trace_);
}

std::string RunFilesWriter::open() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return fmt::format("{}: cannot create directory: {}", dir_, ec.message());
  const std::string tmp = dir_ + "/trace.jsonl.tmp";
  trace_ = std::fopen(tmp.c_str(), "w");
  if (trace_ == nullptr) return fmt::format("{}: cannot open for writing: {}", tmp, std::strerror(errno));
  return {};
}

void RunFilesWriter::on_event(const kernel::TraceEvent& ev) {
  timeline_.add(ev);
  if (trace_ == nullptr || trace_failed_) return;
  const std::string line = ev.to_json();
  if (std::fwrite(line.data(), 1, line.size(), trace_) != line.size() || std::fputc('\n', trace_) == EOF) {
    trace_failed_ = true;
  }
}

std::string RunFilesWriter::finish(const ReportInputs& in) {
  std::string first_error;
  auto note = [&first_error](std::string err) {
    if (first_error.empty()) first_error = std::move(err);
  };
  if (trace_ != nullptr) {
    const std::string tmp = dir_ + "/trace.jsonl.tmp";
    const bool closed = std::fclose(trace_) == 0;
    trace_ = nullptr;
    if (!closed || trace_failed_) {
      note(fmt::format("{}: write failed: {}", tmp, std::strerror(errno)));
    } else {
      std::error_code ec;
      std::filesystem::rename(tmp, dir_ + "/trace.jsonl", ec);
      if (ec) note(fmt::format("{}/trace.jsonl: cannot rename into place: {}", dir_, ec.message()));
    }
  }
  if (std::string err = write_run_reports(dir_, in); !err.empty()) note(std::move(err));
  if (std::string err = write_html_report(dir_, in, timeline_.finish()); !err.empty()) note(std::move(err));
  return first_error;
}

}  // namespace replsim::reports
