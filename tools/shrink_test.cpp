// tools/shrink_test.cpp — the decision log's conversion into scripted fault units, and delta debugging.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "tools/shrink.h"

namespace replsim::tools {
namespace {

using nlohmann::json;

sim::Scenario one_node_scenario() {
  auto s = sim::load_scenario_json(
      json{{"name", "t"},
           {"clusters", json::array({{{"name", "c0"}, {"nodes", 2}}})},
           {"phases", {{"safety_duration_ms", 10000}}}},
      "test");
  REQUIRE(s.is_ok());
  return s.value();
}

json decision(std::int64_t t_ms, const std::string& source, const std::string& action, json detail) {
  return {{"time_ns", 1'000'000'000 + t_ms * 1'000'000}, {"source", source}, {"action", action}, {"detail", detail}};
}

TEST_CASE("each fault and its undoing become one unit with scripted steps timed from the safety phase") {
  const json log = json::array({
      decision(-500, "setup", "admin", json::object()),
      decision(100, "swarm:crash_restart", "crash", {{"node", "c0n1"}, {"reason", "swarm"}}),
      decision(150, "swarm:clog", "clog", {{"node", "c0n0"}, {"extra_latency_ms", 40}}),
      decision(250, "swarm:clog", "unclog", {{"node", "c0n0"}}),
      decision(900, "swarm:crash_restart", "restart", {{"node", "c0n1"}}),
      decision(1000, "script", "partition", {{"kind", "two_way"}, {"groups", json::array({json::array({"c0n0"}), json::array({"c0n1"})})}}),
      decision(1700, "script", "heal", nullptr),
      decision(2000, "swarm:disk_eio", "disk_fault",
               {{"node", "c0n0"}, {"kind", "eio_sync"}, {"probability", 0.5}, {"latency_ms", 0}}),
      decision(2300, "swarm:disk_eio", "disk_heal", {{"node", "c0n0"}}),
      decision(2500, "swarm:connection_reset", "reset_connections", {{"node", "c0n1"}, {"connections", 3}}),
      decision(9000, "swarm:pause", "pause", {{"node", "c0n0"}}),
      decision(10000, "liveness", "heal_all", nullptr),
      decision(10000, "swarm:pause", "resume", {{"node", "c0n0"}}),
      decision(10500, "operator", "failover", {{"node", "c0n1"}}),
  });
  auto units = fault_units_from_decisions(log, one_node_scenario(), 1'000'000'000, 1'000'000'000 + 9'999'000'000,
                                          "r.json");
  INFO(units.status().message());
  REQUIRE(units.is_ok());
  const auto& u = units.value();
  REQUIRE(u.size() == 6);

  CHECK(u[0].steps.size() == 2);  // crash + restart
  CHECK(u[0].steps[0].action() == sim::FaultStep::Action::crash);
  CHECK(u[0].steps[0].at_ms == 100);
  CHECK(u[0].steps[1].action() == sim::FaultStep::Action::restart);
  CHECK(u[0].steps[1].at_ms == 900);
  CHECK(u[0].nodes == std::set<std::string>{"c0n1"});

  REQUIRE(u[1].steps.size() == 1);  // the unclog became the clog's duration
  const auto& clog = std::get<sim::ClogStep>(u[1].steps[0].detail);
  CHECK(clog.node == "c0n0");
  CHECK(clog.extra_latency_ms == 40);
  CHECK(clog.duration_ms == 100);

  const auto& part = std::get<sim::PartitionStep>(u[2].steps[0].detail);
  CHECK(part.kind == sim::PartitionStep::Kind::two_way);
  CHECK(part.groups.size() == 2);
  CHECK(part.duration_ms == 700);
  CHECK(u[2].nodes == std::set<std::string>{"c0n0", "c0n1"});

  const auto& disk = std::get<sim::DiskFaultStep>(u[3].steps[0].detail);
  CHECK(disk.kind == sim::DiskFaultStep::Kind::eio_sync);
  CHECK(disk.probability == doctest::Approx(0.5));
  CHECK(disk.duration_ms == 300);

  CHECK(u[4].steps[0].action() == sim::FaultStep::Action::reset_connections);
  // The resume came with the liveness phase, after the safety window: the pause stands alone.
  CHECK(u[5].steps.size() == 1);
  CHECK(u[5].steps[0].action() == sim::FaultStep::Action::pause);

  // Units merge back into one time-ordered script.
  const auto steps = steps_of(u, {0, 2});
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].at_ms == 100);
  CHECK(steps[1].at_ms == 900);
  CHECK(steps[2].at_ms == 1000);
}

TEST_CASE("a broken decision log is refused with the decision and the field named") {
  const sim::Scenario s = one_node_scenario();
  auto not_array = fault_units_from_decisions(json::object(), s, 0, 1, "r.json");
  REQUIRE_FALSE(not_array.is_ok());
  CHECK(not_array.status().message() == "r.json: field `decisions`: expected an array, found an object");

  auto no_node = fault_units_from_decisions(json::array({decision(1, "script", "crash", json::object())}), s, 0,
                                            10'000'000'000, "r.json");
  REQUIRE_FALSE(no_node.is_ok());
  CHECK(no_node.status().message() == "r.json: decisions[0]: field `detail.node`: missing");

  auto bad_time = fault_units_from_decisions(json::array({{{"time_ns", "soon"}, {"source", "script"},
                                                           {"action", "heal"}, {"detail", nullptr}}}),
                                             s, 0, 1, "r.json");
  REQUIRE_FALSE(bad_time.is_ok());
  CHECK(bad_time.status().message().find("decisions[0]") != std::string::npos);
  CHECK(bad_time.status().message().find("time_ns") != std::string::npos);

  auto bad_kind = fault_units_from_decisions(
      json::array({decision(1, "script", "partition", {{"kind", "sideways"}})}), s, 0, 10'000'000'000, "r.json");
  REQUIRE_FALSE(bad_kind.is_ok());
  CHECK(bad_kind.status().message().find("unknown partition kind \"sideways\"") != std::string::npos);
}

TEST_CASE("delta debugging finds the elements the failure needs, whatever order batches come in") {
  const std::set<std::size_t> needed = {3, 17, 18};
  std::size_t calls = 0;
  auto fails = [&](const std::vector<std::vector<std::size_t>>& batch) {
    ++calls;
    std::vector<bool> out;
    for (const auto& subset : batch) {
      out.push_back(std::all_of(needed.begin(), needed.end(), [&](std::size_t n) {
        return std::find(subset.begin(), subset.end(), n) != subset.end();
      }));
    }
    return out;
  };
  std::size_t trials = 0;
  const auto kept = delta_debug(40, fails, 1000, &trials);
  CHECK(kept == std::vector<std::size_t>{3, 17, 18});
  CHECK(trials > 0);
  CHECK(trials < 400);

  // A failure that needs nothing shrinks to nothing in one trial.
  const auto none = delta_debug(
      10, [](const std::vector<std::vector<std::size_t>>& b) { return std::vector<bool>(b.size(), true); }, 100,
      &trials);
  CHECK(none.empty());
  CHECK(trials == 1);

  // The budget is respected; what is returned still fails.
  const auto cut = delta_debug(40, fails, 5, &trials);
  CHECK(trials <= 5);
  CHECK(fails({cut}).front());
}

}  // namespace
}  // namespace replsim::tools
