// sim/scenario_test.cpp — tests of the scenario loader: every kind of bad input gets one line naming
// the file, the JSON path and what was expected; defaults; the normalized form loads back identical;
// scenarios/schema.json agrees with the loader's key and enum tables; every file in scenarios/ loads.
#include "sim/scenario.h"
#include "core/known_bugs.h"
#include "sim/workload.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#ifndef REPLSIM_SOURCE_ROOT
#error "REPLSIM_SOURCE_ROOT must name the source tree (set by sim/meson.build)"
#endif

namespace replsim::sim {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSource = "scenarios/t.json";

fs::path source_root() { return fs::path(REPLSIM_SOURCE_ROOT); }

// Three nodes c0n0..c0n2 in one shard (c0n0 primary), nothing else.
json base() { return json::parse(R"({"name": "t", "clusters": [{"name": "c0", "nodes": 3}]})"); }

Scenario load_ok(const json& doc) {
  auto result = load_scenario_json(doc, kSource);
  INFO(result.status().message());
  REQUIRE(result.is_ok());
  return result.value();
}

std::string load_error(const json& doc) {
  auto result = load_scenario_json(doc, kSource);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.code() == core::Err::invalid);
  return result.status().message();
}

std::string text_error(std::string_view text) {
  auto result = load_scenario_text(text, kSource);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.code() == core::Err::invalid);
  return result.status().message();
}

// One line, starting with the file, containing the JSON path and every other fragment.
void check_message(const std::string& message, std::initializer_list<std::string_view> fragments) {
  INFO("message: " << message);
  CHECK(message.rfind(std::string(kSource) + ": ", 0) == 0);
  CHECK(message.find('\n') == std::string::npos);
  for (auto fragment : fragments) {
    INFO("missing fragment: " << fragment);
    CHECK(message.find(fragment) != std::string::npos);
  }
}

#define CHECK_LOAD_ERROR(doc, ...) check_message(load_error(doc), {__VA_ARGS__})

json crash(std::int64_t at_ms, const std::string& node) {
  return {{"at_ms", at_ms}, {"action", "crash"}, {"node", node}};
}
json simple(std::int64_t at_ms, const std::string& action, const std::string& node) {
  return {{"at_ms", at_ms}, {"action", action}, {"node", node}};
}

// ==== every file in scenarios/ ====================================================================

std::vector<fs::path> scenario_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(source_root() / "scenarios")) {
    if (entry.is_regular_file() && entry.path().extension() == ".json" &&
        entry.path().filename() != "schema.json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_CASE("every scenario file loads, and its normalized form loads back identical") {
  auto files = scenario_files();
  CHECK(files.size() >= 3);  // at least the examples
  for (const auto& path : files) {
    INFO("file: " << path.string());
    auto result = load_scenario_file(path.string());
    INFO(result.status().message());
    REQUIRE(result.is_ok());
    json normalized = scenario_to_json(result.value());
    auto again = load_scenario_text(normalized.dump(2), "normalized");
    INFO(again.status().message());
    REQUIRE(again.is_ok());
    CHECK(again.value() == result.value());
    CHECK(scenario_to_json(again.value()) == normalized);
  }
}

TEST_CASE("the examples say what the README says they say") {
  auto single = load_scenario_file((source_root() / "scenarios/examples/single-node.json").string());
  REQUIRE(single.is_ok());
  REQUIRE(single->clusters.size() == 1);
  CHECK(single->clusters[0].nodes.size() == 1);
  CHECK(single->clusters[0].shards[0].slots == std::vector<SlotRange>{{0, 16383}});
  CHECK(single->workload.enabled);
  CHECK(single->faults.empty());
  CHECK_FALSE(single->operator_.enabled);

  auto pair = load_scenario_file((source_root() / "scenarios/examples/primary-replica-crash.json").string());
  REQUIRE(pair.is_ok());
  CHECK(pair->clusters[0].shards[0].primary == "c0n0");
  CHECK(pair->clusters[0].shards[0].replicas == std::vector<std::string>{"c0n1"});
  REQUIRE(pair->faults.size() >= 3);
  CHECK(pair->faults[0].action() == FaultStep::Action::crash);
  CHECK(pair->faults[2].action() == FaultStep::Action::restart);
  const auto& admin = std::get<AdminStep>(pair->faults[3].detail);
  CHECK(admin.command.argv == std::vector<std::string>{"CLUSTER", "REPLICATE", "${node:c0n1}"});
  CHECK(admin.command.expect == std::optional<std::string>("OK"));
}

// ==== schema agreement ============================================================================

json load_schema() {
  std::ifstream in(source_root() / "scenarios/schema.json");
  REQUIRE(in.good());
  return json::parse(in);
}

std::set<std::string> string_set(const json& array) {
  std::set<std::string> out;
  for (const auto& v : array) out.insert(v.get<std::string>());
  return out;
}

// Every "additionalProperties" or "enum" below a $defs entry's own level, and every $ref target.
void walk_schema(const json& node, const std::string& pointer, bool is_def_root, const json& defs,
                 std::vector<std::string>& problems) {
  if (node.is_object()) {
    if (!is_def_root && node.contains("additionalProperties")) {
      problems.push_back(pointer + ": object type defined inline; give it its own $defs entry");
    }
    if (!is_def_root && node.contains("enum")) {
      problems.push_back(pointer + ": enum defined inline; give it its own $defs entry");
    }
    if (node.contains("$ref")) {
      std::string ref = node["$ref"].get<std::string>();
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) != 0 || !defs.contains(ref.substr(prefix.size()))) {
        problems.push_back(pointer + ": $ref " + ref + " names no $defs entry");
      }
    }
    for (const auto& item : node.items()) {
      if (pointer == "" && item.key() == "$defs") continue;
      walk_schema(item.value(), pointer + "/" + item.key(), false, defs, problems);
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      walk_schema(node[i], pointer + "/" + std::to_string(i), false, defs, problems);
    }
  }
}

TEST_CASE("schema.json and the loader know the same keys, required keys and enum values") {
  json schema = load_schema();
  REQUIRE(schema.contains("$defs"));
  const json& defs = schema["$defs"];
  CHECK(schema["$ref"] == "#/$defs/scenario");

  std::set<std::string> table_names;
  for (const auto& table : scenario_key_tables()) {
    INFO("key table: " << table.name);
    table_names.insert(table.name);
    REQUIRE(defs.contains(table.name));
    const json& def = defs[table.name];
    CHECK(def["type"] == "object");
    CHECK(def["additionalProperties"] == false);
    std::set<std::string> loader_keys;
    std::set<std::string> loader_required;
    for (const auto& key : table.keys) {
      loader_keys.insert(key.name);
      if (key.required) loader_required.insert(key.name);
    }
    std::set<std::string> schema_keys;
    for (const auto& item : def["properties"].items()) schema_keys.insert(item.key());
    CHECK(schema_keys == loader_keys);
    CHECK(string_set(def.value("required", json::array())) == loader_required);
  }

  std::set<std::string> enum_names;
  for (const auto& table : scenario_enum_tables()) {
    INFO("enum table: " << table.name);
    enum_names.insert(table.name);
    REQUIRE(defs.contains(table.name));
    CHECK(defs[table.name]["enum"].get<std::vector<std::string>>() == table.values);
  }

  for (const auto& item : defs.items()) {
    INFO("schema $defs entry: " << item.key());
    if (item.value().contains("additionalProperties")) CHECK(table_names.count(item.key()) == 1);
    if (item.value().contains("enum")) CHECK(enum_names.count(item.key()) == 1);
  }

  std::vector<std::string> problems;
  walk_schema(schema, "", false, defs, problems);
  for (const auto& item : defs.items())
    walk_schema(item.value(), "/$defs/" + item.key(), true, defs, problems);
  CHECK_MESSAGE(problems.empty(), (problems.empty() ? "" : problems.front()));
}

TEST_CASE("schema.json has one fault shape per action, selected by the action") {
  json schema = load_schema();
  const json& defs = schema["$defs"];
  std::set<std::string> dispatched;
  for (const auto& branch : defs["fault"]["allOf"]) {
    if (branch.contains("if")) {
      std::string action = branch["if"]["properties"]["action"]["const"];
      CHECK(branch["then"]["$ref"] == "#/$defs/fault_" + action);
      dispatched.insert(action);
    }
  }
  for (std::size_t a = 0; a < FaultStep::kActionCount; ++a) {
    std::string action(fault_action_name(static_cast<FaultStep::Action>(a)));
    INFO("action: " << action);
    CHECK(dispatched.count(action) == 1);
    REQUIRE(defs.contains("fault_" + action));
    CHECK(defs["fault_" + action]["properties"]["action"]["const"] == action);
  }
  CHECK(dispatched.size() == FaultStep::kActionCount);
}

// ==== defaults and normalization ==================================================================

TEST_CASE("a minimal scenario gets every default") {
  Scenario s = load_ok(json::parse(R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1}]})"));
  CHECK(s.source == kSource);
  CHECK(s.format_version == 1);
  CHECK(s.description.empty());
  REQUIRE(s.clusters.size() == 1);
  const NodeSpec& node = s.clusters[0].nodes[0];
  CHECK(node.name == "c0n0");
  CHECK(node.config == StoreSpec{});
  CHECK(node.config.port == 6379);
  CHECK(node.config.appendfsync == StoreSpec::Fsync::everysec);
  CHECK(node.clock == ClockSpec{});
  CHECK(s.clusters[0].topology == ClusterSpec::Topology::shards);
  CHECK(s.clusters[0].shards == std::vector<ShardSpec>{{"c0n0", {}, {{0, 16383}}}});
  CHECK(s.duplications.empty());
  CHECK(s.setup.empty());
  CHECK_FALSE(s.workload.enabled);  // no "workload": no clients
  CHECK(s.workload.cluster == "c0");
  CHECK(s.workload.duration_ms == s.phases.safety_duration_ms);
  CHECK(s.faults.empty());
  for (const auto& family : s.swarm.families) CHECK_FALSE(family.may_enable);
  CHECK(s.swarm.budget == SwarmBudget{});
  CHECK_FALSE(s.operator_.enabled);
  CHECK(s.operator_.failover_argv == std::vector<std::string>{"CLUSTER", "FAILOVER", "FORCE"});
  // "default" drops acknowledged-writes-durable: appendfsync is everysec.
  std::vector<std::string> expected_checks;
  for (const auto& id : scenario_check_ids()) {
    if (id != "acknowledged-writes-durable") expected_checks.push_back(id);
  }
  CHECK(s.checks == expected_checks);
  CHECK(s.phases == PhasesSpec{});
  CHECK(s.limits.sim_time_ms == 30'000 + 30'000 + 30'000 + 10'000);
  CHECK(s.limits.events == LimitsSpec{}.events);
  CHECK(s.expect.empty());
}

TEST_CASE("writing a section turns it on unless it says enabled false") {
  json doc = base();
  doc["workload"] = json::object();
  doc["operator"] = json::object();
  doc["swarm"] = {{"pause", json::object()}, {"clog", true}, {"partition", false}};
  Scenario s = load_ok(doc);
  CHECK(s.workload.enabled);
  CHECK(s.workload.mix == WorkloadSpec{}.mix);
  CHECK(s.workload.list_length_bound == 256);
  CHECK(s.operator_.enabled);
  CHECK(s.swarm.family(SwarmSpec::Family::pause).may_enable);
  CHECK(s.swarm.family(SwarmSpec::Family::clog).may_enable);
  CHECK_FALSE(s.swarm.family(SwarmSpec::Family::partition).may_enable);

  doc["workload"] = {{"enabled", false}};
  doc["operator"] = {{"enabled", false}};
  s = load_ok(doc);
  CHECK_FALSE(s.workload.enabled);
  CHECK_FALSE(s.operator_.enabled);
}

TEST_CASE("cluster config is the default for its nodes and a node's config overrides it key by key") {
  json doc = base();
  doc["clusters"][0] = json::parse(R"({
    "name": "c0",
    "config": {"appendfsync": "always", "aof_page_size_bytes": 4096, "port": 7000},
    "nodes": ["a", {"name": "b", "config": {"port": 7001}, "clock": {"offset_ms": -250, "drift_ppm": 12.5}}]
  })");
  Scenario s = load_ok(doc);
  const auto& nodes = s.clusters[0].nodes;
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0].config.port == 7000);
  CHECK(nodes[1].config.port == 7001);
  CHECK(nodes[1].config.appendfsync == StoreSpec::Fsync::always);
  CHECK(nodes[1].config.aof_page_size_bytes == 4096);
  CHECK(nodes[1].clock == ClockSpec{-250, 12.5});
  CHECK(s.find_node("b") == &nodes[1]);
  CHECK(s.cluster_of("b") == &s.clusters[0]);
  CHECK(s.find_node("zz") == nullptr);
  // Every node syncs always, so "default" includes the durability check.
  CHECK(std::find(s.checks.begin(), s.checks.end(), "acknowledged-writes-durable") != s.checks.end());
}

TEST_CASE("topologies: generated shards spread the slots evenly; manual has no shards") {
  json doc = base();
  doc["clusters"][0] = {
      {"name", "c0"}, {"nodes", 6}, {"topology", {{"shard_count", 3}, {"replicas_per_shard", 1}}}};
  Scenario s = load_ok(doc);
  const auto& shards = s.clusters[0].shards;
  REQUIRE(shards.size() == 3);
  CHECK(shards[0] == ShardSpec{"c0n0", {"c0n1"}, {{0, 5460}}});
  CHECK(shards[1] == ShardSpec{"c0n2", {"c0n3"}, {{5461, 10921}}});
  CHECK(shards[2] == ShardSpec{"c0n4", {"c0n5"}, {{10922, 16383}}});

  doc["clusters"][0]["topology"] = {
      {"shards",
       {{{"primary", "c0n5"}, {"slots", {{100, 200}, {0, 5}}}},
        {{"primary", "c0n0"}, {"replicas", {"c0n1", "c0n2", "c0n3", "c0n4"}}, {"slots", {7}}}}}};
  s = load_ok(doc);
  CHECK(s.clusters[0].shards[0].slots == std::vector<SlotRange>{{0, 5}, {100, 200}});
  CHECK(s.clusters[0].shards[1].slots == std::vector<SlotRange>{{7, 7}});

  doc["clusters"][0]["topology"] = "manual";
  s = load_ok(doc);
  CHECK(s.clusters[0].topology == ClusterSpec::Topology::manual);
  CHECK(s.clusters[0].shards.empty());
}

TEST_CASE("checks: a list is kept in catalogue order; \"all\" is every check") {
  json doc = base();
  doc["checks"] = {"no-abort", "aof-readable", "no-stuck-recovering"};
  CHECK(load_ok(doc).checks == std::vector<std::string>{"no-stuck-recovering", "aof-readable", "no-abort"});
  doc["clusters"][0]["config"] = {{"appendfsync", "always"}};
  doc["checks"] = "all";
  CHECK(load_ok(doc).checks == scenario_check_ids());
}

TEST_CASE("the normalized form of a scenario using every feature loads back identical") {
  auto loaded = load_scenario_file((source_root() / "scenarios/examples/reference.json").string());
  INFO(loaded.status().message());
  REQUIRE(loaded.is_ok());
  const Scenario& s = loaded.value();
  json normalized = scenario_to_json(s);

  // Defaults are explicit in the normalized form.
  CHECK(normalized["clusters"][1]["nodes"][3]["name"] == "c1n3");
  CHECK(normalized["clusters"][1]["nodes"][3]["config"]["requirepass"] == "s3cret");
  CHECK(normalized["clusters"][1]["topology"]["shards"][1]["slots"] == json::parse("[[8192, 16383]]"));
  CHECK(normalized["swarm"]["pause"]["may_enable"] == false);
  CHECK(normalized["operator"]["poll_interval_ms"] == 500);
  CHECK(normalized["checks"].is_array());

  // Through text and back: equal struct, equal JSON.
  auto again = load_scenario_text(normalized.dump(), "normalized.json");
  INFO(again.status().message());
  REQUIRE(again.is_ok());
  CHECK(again.value() == s);
  CHECK(again->source == "normalized.json");
  CHECK(scenario_to_json(again.value()) == normalized);

  // A change anywhere makes them differ (operator== covers the fields).
  Scenario changed = s;
  changed.limits.events += 1;
  CHECK_FALSE(changed == s);
  changed = s;
  std::get<ClockStep>(changed.faults[6].detail).offset_ms = 1;
  CHECK_FALSE(changed == s);
}

TEST_CASE("the loader is deterministic: the same bad file always gets the same first error") {
  json doc = base();
  doc["zzz"] = 1;
  doc["aaa"] = 1;
  doc["workload"] = {{"clients", "three"}};
  std::string first = load_error(doc);
  for (int i = 0; i < 5; ++i) CHECK(load_error(doc) == first);
  check_message(first, {"$: unknown key \"aaa\""});
}

// ==== errors: syntax ==============================================================================

TEST_CASE("error: invalid JSON names the line and column") {
  std::string message = text_error("{\n  \"name\": \"t\",\n  \"clusters\": [}\n}");
  check_message(message, {"invalid JSON", "line 3", "column"});
  CHECK(message.find("[json.exception") == std::string::npos);
}

TEST_CASE("error: a key given twice in one object") {
  check_message(text_error(R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1, "nodes": 2}]})"),
                {"$.clusters[0]", "key \"nodes\" appears twice"});
  check_message(text_error(R"({"name": "t", "clusters": [], "faults": [{}, {"at_ms": 1, "at_ms": 2}]})"),
                {"$.faults[1]", "\"at_ms\" appears twice"});
}

TEST_CASE("error: a file that cannot be opened") {
  auto result = load_scenario_file("scenarios/does-not-exist.json");
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.code() == core::Err::not_found);
  CHECK(result.status().message().rfind("scenarios/does-not-exist.json: cannot open", 0) == 0);
}

TEST_CASE("error: messages from a file name that file") {
  // The process id keeps two test builds running at once from sharing the file.
  fs::path path = fs::temp_directory_path() / ("replsim-scenario-test-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1}], )"
        << R"("faults": [{"at_ms": 1, "action": "crash", "node": "c0n9"}]})";
  }
  auto result = load_scenario_file(path.string());
  fs::remove(path);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().message() ==
        path.string() + ": $.faults[0].node: unknown node \"c0n9\" (nodes are c0n0)");
}

// ==== errors: structure and types =================================================================

TEST_CASE("error: missing required keys") {
  CHECK_LOAD_ERROR(json::parse(R"({"clusters": [{"name": "c0", "nodes": 1}]})"),
                   "$.name: required key is missing", "expected a non-empty string");
  CHECK_LOAD_ERROR(json::parse(R"({"name": "t"})"), "$.clusters: required key is missing",
                   "expected a non-empty list");
  CHECK_LOAD_ERROR(json::parse(R"({"name": "t", "clusters": [{"nodes": 1}]})"),
                   "$.clusters[0].name: required key is missing");
  CHECK_LOAD_ERROR(json::parse(R"({"name": "t", "clusters": [{"name": "c0"}]})"),
                   "$.clusters[0].nodes: required key is missing", "a node count or a list of nodes");
  json doc = base();
  doc["faults"] = {{{"action", "crash"}, {"node", "c0n0"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].at_ms: required key is missing", "expected a time in ms");
  doc["faults"] = {{{"at_ms", 5}, {"node", "c0n0"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].action: required key is missing", "expected one of \"crash\"");
  doc = base();
  doc["setup"] = {{{"node", "c0n0"}}};
  CHECK_LOAD_ERROR(doc, "$.setup[0].argv: required key is missing");
  doc = base();
  doc["expect"] = {{"bug", "stuck-recovering"}};
  CHECK_LOAD_ERROR(doc, "$.expect.check: required key is missing", "a check id");
}

TEST_CASE("error: wrong types say what was expected and what was found") {
  json doc = base();
  doc["workload"] = {{"clients", "three"}};
  CHECK(load_error(doc) ==
        std::string(kSource) + ": $.workload.clients: expected a positive integer, found \"three\"");
  doc["workload"] = {{"clients", 0}};
  CHECK_LOAD_ERROR(doc, "$.workload.clients: expected a positive integer, found 0");
  doc["workload"] = {{"clients", 2.5}};
  CHECK_LOAD_ERROR(doc, "$.workload.clients: expected a positive integer, found 2.5");
  doc["workload"] = {{"ops_per_second_per_client", 0}};
  CHECK_LOAD_ERROR(doc, "$.workload.ops_per_second_per_client: expected a positive number", "found 0");
  doc = base();
  doc["name"] = 7;
  CHECK_LOAD_ERROR(doc, "$.name: expected a non-empty string, found 7");
  doc = base();
  doc["clusters"][0]["nodes"] = "three";
  CHECK_LOAD_ERROR(doc, "$.clusters[0].nodes: expected a node count (1 to 100) or a non-empty list of nodes",
                   "found \"three\"");
  doc = base();
  doc["clusters"][0]["config"] = {{"appendfsync", true}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].config.appendfsync: expected one of \"always\", \"everysec\", \"no\", found true");
  doc = base();
  doc["phases"] = {{"liveness", {{"enabled", "yes"}}}};
  CHECK_LOAD_ERROR(doc, "$.phases.liveness.enabled: expected true or false, found \"yes\"");
  doc = base();
  doc["faults"] = json::array({"crash c0n0"});
  CHECK_LOAD_ERROR(doc, "$.faults[0]: expected a fault step object, found \"crash c0n0\"");
  doc = base();
  doc["swarm"] = {{"clog", 1}};
  CHECK_LOAD_ERROR(doc, "$.swarm.clog: expected true, false or a swarm family object, found 1");
  doc = base();
  doc["clusters"][0]["name"] = "c 0";
  CHECK_LOAD_ERROR(doc, "$.clusters[0].name: expected a cluster name (letters, digits", "found \"c 0\"");
  doc = base();
  doc["format_version"] = 2;
  CHECK_LOAD_ERROR(doc, "$.format_version: expected 1 (the only format version this build reads), found 2");
}

TEST_CASE("error: long found values are shortened") {
  json doc = base();
  doc["workload"] = {{"clients", std::string(500, 'x')}};
  std::string message = load_error(doc);
  CHECK(message.size() < 200);
  check_message(message, {"$.workload.clients", "...\""});
}

TEST_CASE("error: unknown keys everywhere, with the nearest known name") {
  json doc = base();
  doc["swarm"] = {{"partition", {{"intensty", json::object()}}}};
  CHECK(load_error(doc) ==
        std::string(kSource) + ": $.swarm.partition: unknown key \"intensty\" (did you mean \"intensity\"?)");
  doc = base();
  doc["worklaod"] = json::object();
  CHECK_LOAD_ERROR(doc, "$: unknown key \"worklaod\" (did you mean \"workload\"?)");
  doc = base();
  doc["clusters"][0]["config"] = {{"aof_page_size", 4096}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].config: unknown key \"aof_page_size\" (did you mean \"aof_page_size_bytes\"?)");
  doc = base();
  doc["faults"] = {{{"at_ms", 1}, {"action", "crash"}, {"node", "c0n0"}, {"duration_ms", 5}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0]: unknown key \"duration_ms\"", "keys here: at_ms, action, node, note");
  doc = base();
  doc["phases"] = {{"liveness", {{"converge_ms", 5}}}};
  CHECK_LOAD_ERROR(doc, "$.phases.liveness: unknown key \"converge_ms\"");
  doc = base();
  doc["swarm"] = {{"crash_restart", {{"intensity", {{"duration_ms", {1, 2}}}}}}};
  CHECK_LOAD_ERROR(doc, "$.swarm.crash_restart.intensity: unknown key \"duration_ms\"", "downtime_ms");
}

TEST_CASE("error: unknown enum values, with the nearest known value") {
  json doc = base();
  doc["clusters"][0]["config"] = {{"appendfsync", "everysek"}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].config.appendfsync: expected one of \"always\", \"everysec\", \"no\"",
                   "found \"everysek\" (did you mean \"everysec\"?)");
  doc = base();
  doc["faults"] = {{{"at_ms", 1}, {"action", "chrash"}, {"node", "c0n0"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].action: expected one of", "(did you mean \"crash\"?)");
  doc = base();
  doc["checks"] = {"no-stuck-recovery"};
  CHECK_LOAD_ERROR(doc, "$.checks[0]: expected one of", "did you mean \"no-stuck-recovering\"?");
  doc = base();
  doc["checks"] = "everything";
  CHECK_LOAD_ERROR(doc, "$.checks: expected one of \"all\", \"default\", found \"everything\"");
  doc = base();
  doc["expect"] = {{"bug", "stuck-recoverin"}, {"check", "no-stuck-recovering"}};
  CHECK_LOAD_ERROR(doc, "$.expect.bug: expected one of", "did you mean \"stuck-recovering\"?");
  doc = base();
  doc["clusters"][0]["topology"] = "automatic";
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology: expected one of \"manual\", found \"automatic\"");
}

// ==== errors: values and ranges ===================================================================

TEST_CASE("error: negative durations") {
  json doc = base();
  doc["phases"] = {{"safety_duration_ms", -5}};
  CHECK_LOAD_ERROR(doc, "$.phases.safety_duration_ms: expected a positive integer (milliseconds), found -5");
  doc = base();
  doc["faults"] = json::array({crash(-1, "c0n0")});
  CHECK_LOAD_ERROR(doc, "$.faults[0].at_ms: expected a non-negative integer (milliseconds), found -1");
  doc = base();
  doc["clusters"][0]["config"] = {{"checkpoint_interval_ms", -1}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].config.checkpoint_interval_ms: expected a non-negative integer");
  doc = base();
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "partition"}, {"kind", "isolate"}, {"node", "c0n0"}, {"duration_ms", -3}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].duration_ms: expected a positive integer (milliseconds), found -3");
}

TEST_CASE("error: ranges with min above max, and malformed ranges") {
  json doc = base();
  doc["swarm"] = {{"partition", {{"intensity", {{"interval_ms", {5000, 100}}}}}}};
  CHECK_LOAD_ERROR(doc, "$.swarm.partition.intensity.interval_ms: range [5000,100] has min above max");
  doc = base();
  doc["workload"] = {{"value_size_bytes", {1, 2, 3}}};
  CHECK_LOAD_ERROR(doc, "$.workload.value_size_bytes: expected [min, max] of sizes", "found an array of 3");
  doc = base();
  doc["swarm"] = {{"disk_eio", {{"intensity", {{"probability", {0.1, 1.5}}}}}}};
  CHECK_LOAD_ERROR(
      doc, "$.swarm.disk_eio.intensity.probability[1]: expected probabilities from 0 to 1, found 1.5");
  doc = base();
  doc["clusters"][0]["topology"] = {
      {"shards", {{{"primary", "c0n0"}, {"replicas", {"c0n1", "c0n2"}}, {"slots", {{9, 2}}}}}}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology.shards[0].slots[0]: range [9,2] has min above max");
}

TEST_CASE("error: store config values") {
  json doc = base();
  doc["clusters"][0]["config"] = {{"aof_page_size_bytes", 32}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].config.aof_page_size_bytes: expected an integer from 64 to 1073741824 (bytes)",
      "found 32");
  doc["clusters"][0]["config"] = {{"port", 70000}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].config.port: expected a port from 1 to 65535, found 70000");
  doc = base();
  doc["clusters"][0]["nodes"] = {{{"name", "x"}, {"clock", {{"drift_ppm", 1e9}}}}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].nodes[0].clock.drift_ppm: expected a number within +-100000");
}

TEST_CASE("error: workload values") {
  json doc = base();
  doc["workload"] = {{"mix", {{"get", 0}, {"set", 0}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.mix: every weight is 0");
  doc["workload"] = {{"mix", {{"gett", 1}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.mix: unknown key \"gett\" (did you mean \"get\"?)");
  doc["workload"] = {{"duration_ms", 90000}};
  CHECK_LOAD_ERROR(doc, "$.workload.duration_ms: 90000 ms is longer than the safety phase (30000 ms");
  doc["workload"] = {{"cluster", "c9"}};
  CHECK_LOAD_ERROR(doc, "$.workload.cluster: unknown cluster \"c9\" (clusters are c0)");
  doc["workload"] = {{"large_values", {{"size_bytes", {1, 2}}, {"page_size_factor", 1}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.large_values: give either \"size_bytes\" or \"page_size_factor\"");
  doc["workload"] = {{"variants", json::array()}};
  CHECK_LOAD_ERROR(doc, "$.workload.variants: expected a non-empty list of workload variants");
  doc["workload"] = {{"variants", {{{"weight", 1}}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.variants[0].name: required key is missing");
  doc["workload"] = {{"variants", {{{"name", "a"}}, {{"name", "a"}}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.variants[1].name: variant \"a\" is named twice (first at $.workload.variants[0])");
  doc["workload"] = {{"variants", {{{"name", "a"}, {"weight", 0}}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.variants[0].weight: expected a positive integer weight");
  doc["workload"] = {{"variants", {{{"name", "a"}, {"mix", {{"lpush", 0}}}}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.variants[0].mix: every weight is 0");
  doc["workload"] = {{"variants", {{{"name", "a"}, {"clients", 2}}}}};
  CHECK_LOAD_ERROR(doc, "$.workload.variants[0]: unknown key \"clients\"");
  doc["workload"] = {{"list_length_bound", -1}};
  CHECK_LOAD_ERROR(doc, "$.workload.list_length_bound: expected a non-negative integer");
}

TEST_CASE("workload variants: each seed picks one by weight, and its keys replace the workload's") {
  json doc = base();
  doc["workload"] = {{"key_count", 50},
                     {"value_size_bytes", {8, 64}},
                     {"large_values", {{"probability", 0.1}}},
                     {"variants",
                      {{{"name", "as-written"}},
                       {{"name", "pushes"},
                        {"weight", 3},
                        {"mix", {{"rpush", 1}}},
                        {"key_count", 4},
                        {"value_size_bytes", 24},
                        {"large_values", {{"probability", 0}}}}}}};
  auto loaded = load_scenario_text(doc.dump(), kSource);
  INFO(loaded.status().message());
  REQUIRE(loaded.is_ok());
  const WorkloadSpec& w = loaded->workload;
  REQUIRE(w.variants.size() == 2);
  CHECK(w.variants[0].weight == 1);
  CHECK_FALSE(w.variants[0].mix.has_value());
  std::map<std::string, int> picked;
  for (std::uint64_t seed = 1; seed <= 400; ++seed) {
    std::string name;
    const WorkloadSpec chosen = workload_for_seed(w, seed, &name);
    CHECK(chosen.variants.empty());
    // The same seed always picks the same variant.
    std::string again;
    (void)workload_for_seed(w, seed, &again);
    CHECK(again == name);
    ++picked[name];
    if (name == "pushes") {
      CHECK(chosen.key_count == 4);
      CHECK(chosen.value_size_bytes == Range<std::int64_t>{24, 24});
      CHECK(chosen.large_values.probability == 0.0);
      CHECK(chosen.mix[static_cast<std::size_t>(WorkloadSpec::Op::rpush)] == 1);
      CHECK(chosen.mix[static_cast<std::size_t>(WorkloadSpec::Op::get)] == 0);
    } else {
      REQUIRE(name == "as-written");
      CHECK(chosen.key_count == 50);
      CHECK(chosen.large_values.probability == 0.1);
      CHECK(chosen.mix == WorkloadSpec{}.mix);
    }
  }
  // Weight 3 against 1: about three quarters of the seeds push.
  CHECK(picked["pushes"] > 250);
  CHECK(picked["as-written"] > 50);
  // Without variants a seed runs the workload as written.
  std::string none = "x";
  WorkloadSpec plain = w;
  plain.variants.clear();
  CHECK(workload_for_seed(plain, 7, &none) == plain);
  CHECK(none.empty());
}

// ==== errors: names and references ================================================================

TEST_CASE("error: duplicate node and cluster names") {
  json doc = base();
  doc["clusters"].push_back({{"name", "c1"}, {"nodes", {"x", "c0n1"}}});
  CHECK_LOAD_ERROR(doc,
                   "$.clusters[1].nodes[1]: node \"c0n1\" is defined twice (first at $.clusters[0].nodes)");
  doc = base();
  doc["clusters"][0]["nodes"] = {"a", {{"name", "a"}}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].nodes[1].name: node \"a\" is defined twice (first at $.clusters[0].nodes[0])");
  doc = base();
  doc["clusters"].push_back({{"name", "c0"}, {"nodes", {"q"}}});
  CHECK_LOAD_ERROR(doc, "$.clusters[1].name: cluster \"c0\" is defined twice (first at $.clusters[0].name)");
}

TEST_CASE("error: unknown nodes in faults, admin commands and placeholders") {
  json doc = base();
  doc["faults"] = json::array({crash(10, "c0n9")});
  CHECK(load_error(doc) ==
        std::string(kSource) + ": $.faults[0].node: unknown node \"c0n9\" (nodes are c0n0, c0n1, c0n2)");
  doc = base();
  doc["setup"] = {{{"node", "c0n1"}, {"argv", {"CLUSTER", "REPLICATE", "${node:c0n7}"}}}};
  CHECK_LOAD_ERROR(doc, "$.setup[0].argv[2]: placeholder in \"${node:c0n7}\" names unknown node \"c0n7\"",
                   "nodes are c0n0, c0n1, c0n2");
  doc = base();
  doc["setup"] = {{{"node", "c0n1"}, {"argv", "CLUSTER REPLICATE ${nod:c0n0}"}}};
  CHECK_LOAD_ERROR(doc, "$.setup[0].argv: unknown placeholder kind \"nod\"", "(did you mean \"node\"?)");
  doc = base();
  doc["faults"] = {{{"at_ms", 1}, {"action", "admin"}, {"node", "c1n0"}, {"argv", {"PING"}}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].node: unknown node \"c1n0\"");
  doc = base();
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "partition"}, {"kind", "two_way"}, {"groups", {{"c0n0"}, {"c0n1", "x"}}}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].groups[1][1]: unknown node \"x\"");
  doc = base();
  doc["duplications"] = {{{"source", "c0"}, {"target", "c1"}}};
  CHECK_LOAD_ERROR(doc, "$.duplications[0].target: unknown cluster \"c1\" (clusters are c0)");
  doc["duplications"] = {{{"source", "c0"}, {"target", "c0"}}};
  CHECK_LOAD_ERROR(doc, "$.duplications[0].target: a cluster cannot duplicate to itself");
}

TEST_CASE("error: shards that do not match the cluster's nodes") {
  json doc = base();
  doc["clusters"][0]["topology"] = {{"shards", {{{"primary", "c0n0"}, {"replicas", {"c0n1"}}}}}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology.shards: node \"c0n2\" is in no shard", "\"manual\"");
  doc["clusters"][0]["topology"] = {
      {"shards", {{{"primary", "c0n0"}, {"replicas", {"c0n1", "c0n2", "c0n0"}}}}}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology.shards[0].replicas[2]: node \"c0n0\" is already in a shard");
  doc["clusters"][0]["topology"] = {{"shards", {{{"primary", "c0n5"}}}}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].topology.shards[0].primary: unknown node \"c0n5\" (nodes are c0n0, c0n1, c0n2)");
  doc["clusters"].push_back({{"name", "c1"}, {"nodes", 1}});
  doc["clusters"][0]["topology"] = {{"shards", {{{"primary", "c1n0"}}}}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].topology.shards[0].primary: node \"c1n0\" belongs to cluster \"c1\", not \"c0\"");
  doc = base();
  doc["clusters"][0]["topology"] = {{"shard_count", 2}, {"replicas_per_shard", 1}};
  CHECK_LOAD_ERROR(
      doc, "$.clusters[0].topology.shard_count: 2 shards of 1 primary and 1 replicas need 4 nodes", "has 3");
  doc["clusters"][0]["topology"] = {{"shard_count", 3}, {"shards", json::array()}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology: give either \"shards\" or \"shard_count\"");
  doc["clusters"][0]["topology"] = {{"shards",
                                     {{{"primary", "c0n0"}, {"slots", {{0, 100}}}},
                                      {{"primary", "c0n1"}, {"slots", {{50, 60}}}},
                                      {{"primary", "c0n2"}, {"slots", json::array()}}}}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology.shards[1].slots[0]: slots [50, 60] overlap slots [0, 100]");
  doc["clusters"][0]["topology"] = {
      {"shards",
       {{{"primary", "c0n0"}, {"slots", {{0, 100}}}}, {{"primary", "c0n1"}}, {{"primary", "c0n2"}}}}};
  CHECK_LOAD_ERROR(doc, "$.clusters[0].topology.shards: either every shard lists its \"slots\" or none does");
}

// ==== errors: the schedule ========================================================================

TEST_CASE("error: a fault after the end of the run") {
  json doc = base();
  doc["phases"] = {{"safety_duration_ms", 60000}};
  doc["faults"] = json::array({crash(1000, "c0n0"), simple(90000, "restart", "c0n0")});
  CHECK(load_error(doc) ==
        std::string(kSource) +
            ": $.faults[1].at_ms: 90000 is after the end of the run (safety phase ends at 60000 ms)");
}

TEST_CASE("error: faults out of time order") {
  json doc = base();
  doc["faults"] = json::array({crash(2000, "c0n0"), crash(1000, "c0n1")});
  CHECK_LOAD_ERROR(doc,
                   "$.faults[1].at_ms: 1000 ms is earlier than the step before it ($.faults[0] at 2000 ms)",
                   "time order");
}

TEST_CASE("error: restart of a node that was never crashed, resume without pause") {
  json doc = base();
  doc["faults"] = json::array({simple(1000, "restart", "c0n1")});
  CHECK_LOAD_ERROR(doc,
                   "$.faults[0].node: restart of \"c0n1\", which is not crashed at 1000 ms (crash it first)");
  doc["faults"] = json::array({crash(1000, "c0n1"), simple(2000, "restart", "c0n1"), simple(3000, "restart", "c0n1")});
  CHECK_LOAD_ERROR(doc, "$.faults[2].node: restart of \"c0n1\", which is not crashed at 3000 ms");
  doc["faults"] = json::array({simple(1000, "pause", "c0n1"), simple(2000, "restart", "c0n1")});
  CHECK_LOAD_ERROR(doc, "$.faults[1].node: restart of \"c0n1\", which is paused, not crashed", "use resume");
  doc["faults"] = json::array({simple(1000, "resume", "c0n2")});
  CHECK_LOAD_ERROR(doc,
                   "$.faults[0].node: resume of \"c0n2\", which is not paused at 1000 ms (pause it first)");
  doc["faults"] = json::array({simple(1000, "pause", "c0n2"), simple(1000, "pause", "c0n2")});
  CHECK_LOAD_ERROR(doc, "$.faults[1].node: pause of \"c0n2\", which is already paused at 1000 ms");
  doc["faults"] = json::array({crash(1000, "c0n2"), crash(1500, "c0n2")});
  CHECK_LOAD_ERROR(doc, "$.faults[1].node: \"c0n2\" is already crashed at 1500 ms (restart it first)");
  // The legal sequence loads.
  doc["faults"] = {crash(1000, "c0n2"), simple(1500, "restart", "c0n2"), simple(2000, "pause", "c0n2"),
                   crash(2500, "c0n2"), simple(3000, "restart", "c0n2")};
  CHECK(load_ok(doc).faults.size() == 5);
}

TEST_CASE("error: heal and unclog with nothing to undo") {
  json doc = base();
  doc["faults"] = {{{"at_ms", 1000}, {"action", "heal"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].at_ms: heal at 1000 ms, but no partition is in effect");
  doc["faults"] = {{{"at_ms", 1000}, {"action", "partition"}, {"kind", "random_split"}, {"duration_ms", 500}},
                   {{"at_ms", 2000}, {"action", "heal"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[1].at_ms: heal at 2000 ms, but no partition is in effect",
                   "a partition with duration_ms heals itself");
  doc["faults"] = {{{"at_ms", 1000}, {"action", "unclog"}, {"node", "c0n1"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0]: unclog of c0n1, which is not clogged at 1000 ms");
  doc["faults"] = {
      {{"at_ms", 1000}, {"action", "clog"}, {"link", {"c0n1", "c0n0"}}, {"extra_latency_ms", 50}},
      {{"at_ms", 2000}, {"action", "unclog"}, {"link", {"c0n0", "c0n1"}}},
      {{"at_ms", 3000}, {"action", "unclog"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[2].at_ms: unclog at 3000 ms, but nothing is clogged then");
  doc["faults"] = {{{"at_ms", 1000}, {"action", "clog"}, {"node", "c0n1"}, {"extra_latency_ms", 50}},
                   {{"at_ms", 2000}, {"action", "clog"}, {"node", "c0n1"}, {"extra_latency_ms", 80}}};
  CHECK_LOAD_ERROR(doc, "$.faults[1]: c0n1 is already clogged at 2000 ms (unclog it first)");
}

TEST_CASE("error: fault steps with the wrong keys for their kind") {
  json doc = base();
  doc["faults"] = {{{"at_ms", 1}, {"action", "partition"}, {"kind", "two_way"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].groups: required for kind \"two_way\"");
  doc["faults"] = {{{"at_ms", 1},
                    {"action", "partition"},
                    {"kind", "isolate"},
                    {"node", "c0n0"},
                    {"groups", json::array()}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].groups: not used by partition kind \"isolate\" (it takes \"node\")");
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "partition"}, {"kind", "two_way"}, {"groups", {{"c0n0"}, {"c0n0", "c0n1"}}}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].groups[1]: node \"c0n0\" is in two groups (also $.faults[0].groups[0])");
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "partition"}, {"kind", "one_way"}, {"from", {"c0n0"}}, {"to", {"c0n0"}}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].to: node \"c0n0\" is in both \"from\" and \"to\"");
  doc["faults"] = {{{"at_ms", 1}, {"action", "disk_fault"}, {"node", "c0n0"}, {"kind", "latency"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].latency_ms: required for kind \"latency\"");
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "disk_fault"}, {"node", "c0n0"}, {"kind", "eio_write"}, {"latency_ms", 5}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].latency_ms: only used by kind \"latency\", not \"eio_write\"");
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "disk_fault"}, {"node", "c0n0"}, {"kind", "enospc"}, {"probability", 0}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].probability: expected a probability above 0, at most 1, found 0");
  doc["faults"] = {{{"at_ms", 1}, {"action", "clock"}, {"node", "c0n0"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0]: a clock step sets \"offset_ms\", \"drift_ppm\" or both");
  doc["faults"] = {{{"at_ms", 1},
                    {"action", "clog"},
                    {"node", "c0n0"},
                    {"link", {"c0n0", "c0n1"}},
                    {"extra_latency_ms", 5}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0]: give either \"node\" or \"link\", not both");
  doc["faults"] = {{{"at_ms", 1}, {"action", "clog"}, {"link", {"c0n0"}}, {"extra_latency_ms", 5}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].link: expected a list of two node names");
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "admin"}, {"node", "c0n0"}, {"argv", "INFO"}, {"retry_for_ms", 1000}}};
  CHECK_LOAD_ERROR(doc,
                   "$.faults[0].retry_for_ms: retries repeat the command until its reply matches \"expect\"");
  doc["faults"] = {{{"at_ms", 1}, {"action", "admin"}, {"node", "c0n0"}, {"argv", "  "}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].argv: expected a non-empty list of strings");
  doc["faults"] = {
      {{"at_ms", 1}, {"action", "admin"}, {"node", "c0n0"}, {"argv", "PING"}, {"check", "nope"}}};
  CHECK_LOAD_ERROR(doc, "$.faults[0].check: expected one of \"no-stuck-recovering\"");
}

// ==== errors: contradictions ======================================================================

TEST_CASE("error: contradictory options") {
  json doc = json::parse(R"({"name": "t", "clusters": [{"name": "c0", "nodes": 1}], "operator": {}})");
  CHECK_LOAD_ERROR(doc,
                   "$.operator: the operator fails primaries over to replicas, but no cluster has a replica");
  doc["operator"] = {{"enabled", true}};
  CHECK_LOAD_ERROR(doc, "$.operator.enabled: the operator fails");
  doc["clusters"][0]["topology"] = "manual";
  doc["clusters"][0]["nodes"] = 2;
  CHECK(load_ok(doc).operator_.enabled);  // setup may attach the second node

  doc = base();
  doc["checks"] = {"acknowledged-writes-durable"};
  CHECK_LOAD_ERROR(doc, "$.checks[0]: acknowledged-writes-durable needs appendfsync \"always\" on every node",
                   "\"c0n0\" uses \"everysec\"");
  doc["checks"] = "all";
  CHECK_LOAD_ERROR(doc, "$.checks: \"all\" includes acknowledged-writes-durable needs appendfsync");
  doc["clusters"][0]["config"] = {{"appendfsync", "always"}};
  doc["swarm"] = {{"budget", {{"within_budget", false}}}};
  CHECK_LOAD_ERROR(
      doc, "$.checks: \"all\" includes acknowledged-writes-durable holds only within the fault budget");

  doc = base();
  doc["phases"] = {{"liveness", {{"enabled", false}}}};
  doc["checks"] = {"no-abort", "replicas-converge"};
  CHECK_LOAD_ERROR(doc,
                   "$.checks[1]: replicas-converge is judged after the liveness phase, which is disabled");
  doc.erase("checks");
  auto checks = load_ok(doc).checks;
  CHECK(std::find(checks.begin(), checks.end(), "replicas-converge") == checks.end());

  doc = base();
  doc["checks"] = {"no-abort", "no-abort"};
  CHECK_LOAD_ERROR(doc, "$.checks[1]: check no-abort is listed twice");

  doc = base();
  doc["checks"] = {"no-abort"};
  doc["expect"] = {{{"bug", "stuck-recovering"}, {"check", "no-stuck-recovering"}}};
  CHECK_LOAD_ERROR(
      doc, "$.expect[0].check: no-stuck-recovering is not among the checks this scenario applies (no-abort)");

  doc = base();
  doc["swarm"] = {{"crash_restart", true}, {"budget", {{"max_nodes_down", 0}}}};
  CHECK_LOAD_ERROR(doc, "$.swarm.budget.max_nodes_down: 0 forbids every crash and pause");
  doc["swarm"] = {{"pause", {{"enable_probability", 0}}}};
  CHECK_LOAD_ERROR(doc, "$.swarm.pause.enable_probability: 0 never turns the family on");

  doc = base();
  doc["limits"] = {{"sim_time_ms", 50000}};
  CHECK_LOAD_ERROR(doc, "$.limits.sim_time_ms: 50000 ms is shorter than the phases need",
                   "(setup 30000 + safety 30000 + liveness 30000 = 90000 ms)");
}

// ==== argument templates, reply patterns, suggestions =============================================

TEST_CASE("argument templates: placeholders, literal dollars and hash tags") {
  using K = ArgPiece::Kind;
  auto pieces = parse_arg_template("${node:c0n0}");
  REQUIRE(pieces.is_ok());
  CHECK(*pieces == std::vector<ArgPiece>{{K::node_id, "c0n0"}});

  pieces = parse_arg_template("x${addr:a}-${host:b}:${port:b}$$5 $ {tag}");
  REQUIRE(pieces.is_ok());
  CHECK(*pieces == std::vector<ArgPiece>{{K::text, "x"},
                                         {K::addr, "a"},
                                         {K::text, "-"},
                                         {K::host, "b"},
                                         {K::text, ":"},
                                         {K::port, "b"},
                                         {K::text, "$5 $ {tag}"}});
  auto expanded = expand_arg_template(*pieces, [](K kind, const std::string& node) {
    return kind == K::port ? std::string("6379") : (kind == K::host ? "host-" : "addr-") + node;
  });
  CHECK(expanded == "xaddr-a-host-b:6379$5 $ {tag}");

  pieces = parse_arg_template("{user}:1");
  REQUIRE(pieces.is_ok());
  CHECK(*pieces == std::vector<ArgPiece>{{K::text, "{user}:1"}});
  CHECK(parse_arg_template("")->empty());
  CHECK(*parse_arg_template("cost$") == std::vector<ArgPiece>{{K::text, "cost$"}});

  CHECK(parse_arg_template("${node:c0n0").status().message().find("unterminated placeholder") !=
        std::string::npos);
  CHECK(parse_arg_template("${node}").status().message().find("names no node") != std::string::npos);
  CHECK(parse_arg_template("${node:}").status().message().find("names no node") != std::string::npos);
  CHECK(parse_arg_template("${id:x}").status().message().find("unknown placeholder kind \"id\"") !=
        std::string::npos);
}

TEST_CASE("reply patterns") {
  CHECK(reply_matches("OK", '+', "OK"));
  CHECK(reply_matches("OK", '$', "OK"));
  CHECK_FALSE(reply_matches("OK", '+', "OKAY"));
  CHECK(reply_matches("+OK", '+', "OK"));
  CHECK_FALSE(reply_matches("+OK", '$', "OK"));
  CHECK(reply_matches("ERR*", '-', "ERR Node is not configured as a REPLICA"));
  CHECK(reply_matches("-ERR*", '-', "ERR anything"));
  CHECK_FALSE(reply_matches("-ERR*", '+', "ERR anything"));
  CHECK(reply_matches("-CLUSTERDOWN*", '-', "CLUSTERDOWN The cluster is down"));
  CHECK(reply_matches(":3", ':', "3"));
  CHECK_FALSE(reply_matches(":3", '$', "3"));
  CHECK(reply_matches("*master_link_status:up*", '$',
                      "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n"));
  CHECK_FALSE(reply_matches("*master_link_status:up*", '$', "master_link_status:down"));
  CHECK(reply_matches("*", '$', ""));
  CHECK(reply_matches("a*b*c", '$', "aXXbYYbZc"));
  CHECK_FALSE(reply_matches("a*b*c", '$', "aXXbYY"));
  CHECK(reply_matches("2\\*3", '$', "2*3"));
  CHECK_FALSE(reply_matches("2\\*3", '$', "2x3"));
  CHECK(reply_matches("(nil)", '$', "(nil)"));
}

TEST_CASE("nearest names") {
  std::vector<std::string> keys = {"intensity", "may_enable", "enable_probability"};
  CHECK(nearest_name("intensty", keys) == std::optional<std::string>("intensity"));
  CHECK(nearest_name("Intensity", keys) == std::optional<std::string>("intensity"));
  CHECK(nearest_name("may-enable", keys) == std::optional<std::string>("may_enable"));
  CHECK_FALSE(nearest_name("zzz", keys).has_value());
  CHECK_FALSE(nearest_name("", keys).has_value());
}

TEST_CASE("names of enum values match the tables") {
  CHECK(fault_action_name(FaultStep::Action::reset_connections) == "reset_connections");
  CHECK(partition_kind_name(PartitionStep::Kind::random_split) == "random_split");
  CHECK(disk_fault_kind_name(DiskFaultStep::Kind::bitflip_read) == "bitflip_read");
  CHECK(fsync_name(StoreSpec::Fsync::no) == "no");
  CHECK(swarm_family_name(SwarmSpec::Family::connection_reset) == "connection_reset");
  CHECK(workload_op_name(WorkloadSpec::Op::llen) == "llen");
  CHECK(scenario_check_ids().size() == 9);
  CHECK(scenario_bug_names() == core::known_bug_names());
  CHECK(scenario_bug_names().size() == core::known_bug_catalogue().size());
  CHECK(std::find(scenario_bug_names().begin(), scenario_bug_names().end(), "duplication-decree-reset") !=
        scenario_bug_names().end());
}

}  // namespace
}  // namespace replsim::sim
