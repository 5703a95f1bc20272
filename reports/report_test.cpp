// report.json: the contract fields are there, the file is written atomically, errors name the file.
#include "reports/report.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace replsim;

namespace {

sim::Scenario tiny_scenario() {
  auto s = sim::load_scenario_text(R"({"name": "tiny", "clusters": [{"name": "c0", "nodes": 1}]})", "tiny.json");
  REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  return s.value();
}

}  // namespace

TEST_CASE("report.json holds the run contract and writes atomically") {
  const sim::Scenario scenario = tiny_scenario();
  sim::RunResult result;
  result.verdict = sim::Verdict::fail;
  result.trace_hash = 0x1234abcd;
  result.violations.push_back({"no-abort", 5, "c0n0", "node c0n0 aborted: x", {{"message", "x"}}});
  result.decisions.push_back({7, "script", "crash", {{"node", "c0n0"}}});
  reports::ReportInputs in;
  in.scenario = &scenario;
  in.scenario_path = "tiny.json";
  in.seed = 42;
  in.bugs = {"stuck-recovering"};
  in.result = &result;
  in.replay_command = "replsim run tiny.json --seed 42";
  const auto j = reports::build_report(in);
  CHECK(j["seed"] == 42);
  CHECK(j["verdict"] == "fail");
  CHECK(j["failed_check"] == "no-abort");
  CHECK(j["trace_hash"] == "000000001234abcd");
  CHECK(j["violations"][0]["node"] == "c0n0");
  CHECK(j["decisions"][0]["action"] == "crash");
  CHECK(j["bugs"][0] == "stuck-recovering");
  CHECK(j["replay"] == "replsim run tiny.json --seed 42");
  CHECK(j["scenario"]["name"] == "tiny");
  // The embedded scenario loads back to the same scenario.
  auto again = sim::load_scenario_json(j["scenario"], "report.json");
  REQUIRE(again.is_ok());
  CHECK(again.value() == scenario);

  const auto dir = std::filesystem::temp_directory_path() / "replsim_report_test";
  std::filesystem::remove_all(dir);
  CHECK(reports::write_run_reports(dir.string(), in).empty());
  std::ifstream f(dir / "report.json");
  std::stringstream ss;
  ss << f.rdbuf();
  CHECK(nlohmann::json::parse(ss.str())["seed"] == 42);
  CHECK_FALSE(std::filesystem::exists(dir / "report.json.tmp"));
  CHECK(std::filesystem::exists(dir / "history.json"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("an unwritable destination gives a message naming the file") {
  const std::string err = reports::write_file_atomic("/nonexistent-dir/x/report.json", "{}");
  CHECK(err.find("/nonexistent-dir/x/report.json") != std::string::npos);
}
