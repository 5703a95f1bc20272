// sim/workload_test.cpp — the workload's list bound: whole runs of a push-heavy single-node scenario,
// with and without list_length_bound, judged by the final lists and the history; and how the
// clients show a reply.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/client.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/trace.h"
#include "sim/run.h"
#include "sim/scenario.h"

namespace replsim::sim {
namespace {

// One node, four clients pushing four times as often as they pop, on two lists, for 20 s.
Scenario push_heavy(std::int64_t bound) {
  const nlohmann::json doc = {
      {"name", "push-heavy"},
      {"clusters", nlohmann::json::array({{{"name", "c0"}, {"nodes", 1}, {"config", {{"appendfsync", "always"}}}}})},
      {"workload",
       {{"clients", 4},
        {"mix", {{"lpush", 2}, {"rpush", 2}, {"lpop", 1}, {"lrange", 1}}},
        {"key_count", 2},
        {"value_size_bytes", {4, 16}},
        {"ops_per_second_per_client", 20},
        {"list_length_bound", bound}}},
      {"checks", {"no-duplicate-list-entries", "acknowledged-writes-durable"}},
      {"phases", {{"safety_duration_ms", 20000}}}};
  auto loaded = load_scenario_json(doc, "push-heavy.json");
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
  return loaded.value();
}

std::size_t longest_final_list(const RunResult& r) {
  std::size_t longest = 0;
  for (const NodeFinal& n : r.finals) {
    for (const auto& [key, values] : n.lists) longest = std::max(longest, values.size());
  }
  return longest;
}

std::uint64_t largest_pop(const RunResult& r) {
  std::uint64_t largest = 0;
  for (const Operation& op : r.history.ops()) {
    if (op.kind == OpKind::lpop && !op.args.empty()) {
      largest = std::max<std::uint64_t>(largest, std::strtoull(op.args[0].c_str(), nullptr, 10));
    }
  }
  return largest;
}

TEST_CASE("list_length_bound: lists stay near the bound, the surplus is popped and recorded, checks pass") {
  RunOptions options;
  options.seed = 7;
  // About 1600 operations: unbounded, the two lists end with hundreds of elements each.
  const RunResult unbounded = run_scenario(push_heavy(0), options);
  CHECK(unbounded.verdict == Verdict::pass);
  CHECK(longest_final_list(unbounded) > 200);
  CHECK(largest_pop(unbounded) <= 2);

  const RunResult bounded = run_scenario(push_heavy(20), options);
  CHECK(bounded.verdict == Verdict::pass);
  // A list grows past the bound only by the pushes made before its next pop.
  CHECK(longest_final_list(bounded) <= 60);
  CHECK(largest_pop(bounded) > 2);
  // Each client drew the same operations: the bound changes pop counts, not the mix or the rate.
  for (int client = 0; client < 4; ++client) {
    std::vector<OpKind> a;
    std::vector<OpKind> b;
    for (const Operation& op : unbounded.history.ops()) {
      if (op.client == client) a.push_back(op.kind);
    }
    for (const Operation& op : bounded.history.ops()) {
      if (op.client == client) b.push_back(op.kind);
    }
    const std::size_t n = std::min(a.size(), b.size());
    // The runs end at the same simulated moment, but with different latencies near the end a client
    // may have a few more or fewer operations finished (about 1%).
    CHECK(n + 2 + n / 100 >= std::max(a.size(), b.size()));
    CHECK(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin()));
  }
}

// One shard of three nodes: every key lives on the primary, the two replicas answer MOVED.
TEST_CASE("clients keep a slot map from CLUSTER SLOTS: every key goes straight to its owner") {
  const nlohmann::json doc = {
      {"name", "routing"},
      {"clusters", nlohmann::json::array({{{"name", "c0"},
                                           {"nodes", 3},
                                           {"topology", {{"shard_count", 1}, {"replicas_per_shard", 2}}}}})},
      {"workload",
       {{"clients", 4},
        {"mix", {{"get", 1}, {"set", 1}}},
        {"key_count", 4},
        {"value_size_bytes", {4, 16}},
        {"ops_per_second_per_client", 20}}},
      {"checks", {"replicas-converge", "single-primary-per-slot"}},
      {"phases", {{"safety_duration_ms", 10000}}}};
  auto loaded = load_scenario_json(doc, "routing.json");
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
  RunOptions options;
  options.seed = 3;
  std::size_t to_primary = 0;
  std::size_t to_replicas = 0;
  options.trace_sink = [&](const kernel::TraceEvent& e) {
    if (e.kind != "net.send" || e.detail.find(" client-") == std::string::npos) return;
    if (e.detail.find("->c0n0:6379") != std::string::npos) ++to_primary;
    if (e.detail.find("->c0n1:6379") != std::string::npos || e.detail.find("->c0n2:6379") != std::string::npos) {
      ++to_replicas;
    }
  };
  const RunResult r = run_scenario(loaded.value(), options);
  CHECK(r.verdict == Verdict::pass);
  CHECK(r.history.ops().size() > 500);
  CHECK(to_primary >= r.history.ops().size());
  // No wrong guesses: each client asks one node for CLUSTER SLOTS before its first operation (at
  // most four requests to replicas), and the map it gets sends every key to the primary.
  CHECK(to_replicas <= 4);
}

}  // namespace
TEST_CASE("a long bulk reply shows as to_display shows it") {
  kernel::Rng rng(3, "workload_test/long-bulks");
  for (int n = 0; n < 400; ++n) {
    std::string text(static_cast<std::size_t>(rng.range(150, 3000)), ' ');
    const double plain = rng.unit();  // from mostly binary to all printable
    for (char& c : text) c = rng.chance(plain) ? static_cast<char>(rng.range(' ', '~')) : static_cast<char>(rng.range(0, 255));
    ClientReply r;
    r.answered = true;
    r.value = core::RespValue::bulk(text);
    CAPTURE(n);
    REQUIRE(r.display() == r.value.to_display(160));
  }
}

}  // namespace replsim::sim
