// sim/faults_test.cpp — the swarm plan and the generators' choice of victim: primary_bias draws from
// its range per seed, shows in the SEED line only when it is on, and a bias of 1 makes every crash hit
// a node serving as a primary.
#include "sim/faults.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "sim/run.h"
#include "sim/scenario.h"

namespace replsim::sim {
namespace {

using json = nlohmann::json;
using Family = SwarmSpec::Family;

Scenario load(const json& doc) {
  auto loaded = load_scenario_text(doc.dump(), "faults_test.json");
  INFO(loaded.status().message());
  REQUIRE(loaded.is_ok());
  return loaded.value();
}

// Three nodes in one shard (c0n0 the primary), crashes only, every 300 ms, 200 ms down.
json crash_scenario(double bias) {
  return {{"name", "bias"},
          {"clusters", {{{"name", "c0"}, {"nodes", 3}}}},
          {"swarm",
           {{"crash_restart",
             {{"enable_probability", 1},
              {"intensity", {{"interval_ms", 300}, {"downtime_ms", 200}, {"primary_bias", bias}}}}}}},
          {"checks", {"no-abort"}},
          {"phases", {{"safety_duration_ms", 6000}, {"liveness", {{"converge_within_ms", 5000}}}}}};
}

std::set<std::string> crashed_nodes(const RunResult& result) {
  std::set<std::string> nodes;
  for (const Decision& d : result.decisions) {
    if (d.source == "swarm:crash_restart" && d.action == "crash") nodes.insert(d.detail.value("node", ""));
  }
  return nodes;
}

TEST_CASE("primary_bias is drawn per seed from its range and named in the SEED line only when on") {
  json doc = crash_scenario(0.0);
  doc["swarm"]["crash_restart"]["intensity"]["primary_bias"] = {0.2, 0.6};
  const Scenario s = load(doc);
  CHECK(s.swarm.family(Family::crash_restart).primary_bias == Range<double>{0.2, 0.6});
  CHECK(s.swarm.family(Family::pause).primary_bias == Range<double>{0.0, 0.0});  // the default: off
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const SwarmPlan plan = plan_swarm(s.swarm, seed);
    const SwarmChoice& c = plan.families[static_cast<std::size_t>(Family::crash_restart)];
    CHECK(c.enabled);
    CHECK(c.primary_bias >= 0.2);
    CHECK(c.primary_bias <= 0.6);
    CHECK(plan.summary().find(",primary=") != std::string::npos);
    CHECK(plan.to_json()["crash_restart"]["primary_bias"] == c.primary_bias);
  }
  const Scenario unbiased = load(crash_scenario(0.0));
  CHECK(plan_swarm(unbiased.swarm, 1).summary().find("primary=") == std::string::npos);
}

TEST_CASE("with primary_bias 1 every generated crash hits the primary; with 0 the others are hit too") {
  RunOptions options;
  options.seed = 3;
  const RunResult biased = run_scenario(load(crash_scenario(1.0)), options);
  CHECK(crashed_nodes(biased) == std::set<std::string>{"c0n0"});
  const RunResult unbiased = run_scenario(load(crash_scenario(0.0)), options);
  const std::set<std::string> hit = crashed_nodes(unbiased);
  CHECK(hit.size() > 1);
}

}  // namespace
}  // namespace replsim::sim
