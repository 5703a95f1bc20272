// sim/checks/lists.cpp — checks over list keys: no duplicated element, no lost acknowledged push.
//
// Every push in a run carries a value unique to that push and clients never re-send a push whose
// outcome was unknown, so an element seen twice was duplicated by the store, and an acknowledged
// element that is neither in the final list nor returned by a pop was lost by it.
#include <map>
#include <set>

#include <fmt/format.h>

#include "sim/checks/check.h"

namespace replsim::sim {

namespace {

constexpr std::string_view kDup = "no-duplicate-list-entries";
constexpr std::string_view kDurable = "acknowledged-writes-durable";

// The first element that appears twice in `values`, if any, with its two positions.
std::optional<std::pair<std::size_t, std::size_t>> first_duplicate(
    const std::vector<std::string>& values) {
  // Nearly every list holds distinct elements; all_distinct tells so without a map of them all.
  if (all_distinct(std::vector<std::string_view>(values.begin(), values.end()))) return std::nullopt;
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto [it, inserted] = seen.emplace(values[i], i);
    if (!inserted) return std::make_pair(it->second, i);
  }
  return std::nullopt;
}

bool is_pop(OpKind k) { return k == OpKind::lpop || k == OpKind::rpop; }
bool is_push(OpKind k) { return k == OpKind::lpush || k == OpKind::rpush; }

std::uint64_t pop_count(const Operation& op) {
  if (op.args.empty()) return 1;
  return std::strtoull(op.args.front().c_str(), nullptr, 10);
}

}  // namespace

std::vector<Violation> check_no_duplicate_list_entries(const RunFacts& facts) {
  std::vector<Violation> out;
  if (facts.history != nullptr) {
    std::map<std::string, std::uint64_t> popped_by;  // element -> the ok pop that returned it
    for (const Operation& op : facts.history->ops()) {
      if (op.outcome != Outcome::ok) continue;
      if (op.kind == OpKind::lrange) {
        if (auto dup = first_duplicate(op.values)) {
          out.push_back({std::string(kDup), op.complete_ns, op.node,
                         fmt::format("LRANGE {} (op {}) returned element \"{}\" twice, at positions "
                                     "{} and {}",
                                     op.key, op.id, op.values[dup->first], dup->first, dup->second),
                         {{"op", op.id}, {"key", op.key}, {"element", op.values[dup->first]},
                          {"positions", {dup->first, dup->second}}}});
        }
      } else if (is_pop(op.kind) && facts.durability_promised) {
        // Two pops returning one element prove a duplicate only if the first pop could not be lost:
        // without the durability promise (fsync everysec, a failover to a lagging replica) a lost
        // acknowledged pop puts the element back, and popping it again is no duplicate.
        for (const std::string& v : op.values) {
          auto [it, inserted] = popped_by.emplace(v, op.id);
          if (!inserted) {
            out.push_back({std::string(kDup), op.complete_ns, op.node,
                           fmt::format("element \"{}\" of {} was popped twice (ops {} and {}): it "
                                       "was in the list twice",
                                       v, op.key, it->second, op.id),
                           {{"ops", {it->second, op.id}}, {"key", op.key}, {"element", v}}});
          }
        }
      }
    }
  }
  for (const NodeFinal& n : facts.finals) {
    for (const auto& [key, values] : n.lists) {
      if (auto dup = first_duplicate(values)) {
        out.push_back({std::string(kDup), -1, n.node,
                       fmt::format("final state of {} on {} holds element \"{}\" twice (positions "
                                   "{} and {} of {})",
                                   key, n.node, values[dup->first], dup->first, dup->second,
                                   values.size()),
                       {{"key", key}, {"element", values[dup->first]},
                        {"positions", {dup->first, dup->second}}, {"length", values.size()}}});
      }
    }
  }
  return out;
}

std::vector<Violation> check_acknowledged_writes_durable(const RunFacts& facts) {
  std::vector<Violation> out;
  if (!facts.durability_promised || facts.history == nullptr) return out;

  struct KeyFacts {
    std::vector<std::pair<std::string, std::uint64_t>> acked;  // (element, push op)
    std::set<std::string> popped;
    std::uint64_t uncertain_pops = 0;  // elements unknown pops may have removed
    bool deleted = false;              // a DEL that may have run: losses are not attributable
  };
  std::map<std::string, KeyFacts> keys;
  for (const Operation& op : facts.history->ops()) {
    if (is_push(op.kind)) {
      if (op.outcome == Outcome::ok) {
        for (const std::string& v : op.args) keys[op.key].acked.emplace_back(v, op.id);
      }
    } else if (is_pop(op.kind)) {
      KeyFacts& k = keys[op.key];
      if (op.outcome == Outcome::ok) {
        k.popped.insert(op.values.begin(), op.values.end());
      } else if (op.outcome != Outcome::fail) {
        k.uncertain_pops += pop_count(op);
      }
    } else if (op.kind == OpKind::del && op.outcome != Outcome::fail) {
      keys[op.key].deleted = true;
    }
  }

  // The final list of a key: the primaries' copies (replicas are checked by replicas-converge).
  std::map<std::string, std::set<std::string>> final_elements;
  bool any_primary_up = false;
  for (const NodeFinal& n : facts.finals) {
    if (!n.up || n.role != "primary") continue;
    any_primary_up = true;
    for (const auto& [key, values] : n.lists) final_elements[key].insert(values.begin(), values.end());
  }
  if (!any_primary_up) return out;  // nothing to compare with; liveness failures are other checks'

  for (const auto& [key, k] : keys) {
    if (k.deleted) continue;
    std::vector<std::pair<std::string, std::uint64_t>> missing;
    const auto& present = final_elements[key];
    for (const auto& [v, op_id] : k.acked) {
      if (present.count(v) == 0 && k.popped.count(v) == 0) missing.emplace_back(v, op_id);
    }
    if (missing.size() > k.uncertain_pops) {
      nlohmann::json lost = nlohmann::json::array();
      for (std::size_t i = 0; i < missing.size() && i < 20; ++i) {
        lost.push_back({{"element", missing[i].first}, {"push_op", missing[i].second}});
      }
      out.push_back({std::string(kDurable), -1, "",
                     fmt::format("{} acknowledged push(es) to {} are lost (first: \"{}\" from op {}); "
                                 "unknown pops could explain at most {}",
                                 missing.size(), key, missing.front().first, missing.front().second,
                                 k.uncertain_pops),
                     {{"key", key}, {"lost", lost}, {"lost_count", missing.size()},
                      {"uncertain_pops", k.uncertain_pops}}});
    }
  }
  return out;
}

std::vector<Violation> check_no_abort(const RunFacts& facts) {
  std::vector<Violation> out;
  for (const AbortRecord& a : facts.aborts) {
    out.push_back({"no-abort", a.time_ns, a.node,
                   fmt::format("node {} aborted: {}", a.node, a.message),
                   {{"message", a.message}}});
  }
  return out;
}

}  // namespace replsim::sim
