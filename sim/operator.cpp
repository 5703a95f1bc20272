// sim/operator.cpp — failure detection, promotion and re-attachment by admin commands.
#include "sim/operator.h"

#include <fmt/format.h>

namespace replsim::sim {

namespace {

kernel::Nanos ms(std::int64_t v) { return kernel::Nanos(v * 1'000'000); }

// The value of "field:" in an INFO reply ("" when absent).
std::string info_field(const std::string& info, std::string_view field) {
  const std::string key = std::string(field) + ":";
  std::size_t pos = 0;
  while ((pos = info.find(key, pos)) != std::string::npos) {
    if (pos == 0 || info[pos - 1] == '\n') {
      const std::size_t start = pos + key.size();
      const std::size_t end = info.find_first_of("\r\n", start);
      return info.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
    pos += key.size();
  }
  return {};
}

}  // namespace

Operator::Operator(World& world, OperatorSpec spec) : world_(world), spec_(std::move(spec)) {
  for (const ClusterSpec& c : world_.scenario().clusters) {
    for (const ShardSpec& s : c.shards) {
      ShardView v;
      v.key = s.primary;
      v.members.push_back(s.primary);
      for (const std::string& r : s.replicas) v.members.push_back(r);
      primary_of_shard_[s.primary] = s.primary;
      shards_.push_back(std::move(v));
    }
  }
}

void Operator::start() {
  world_.sched().spawn(kernel::kNoNode, "operator", [this] { loop(); });
}

void Operator::poll(const std::string& node) {
  NodeView& v = view_[node];
  ClientReply r = world_.admin(node, {"INFO", "replication"}, ms(std::max<std::int64_t>(spec_.poll_interval_ms, 100)));
  const std::int64_t now = world_.sched().now_ns();
  if (!r.answered || r.is_error_reply()) {
    if (v.reachable) v.unreachable_since_ns = now;
    v.reachable = false;
    v.was_unreachable = true;
    return;
  }
  v.reachable = true;
  v.role = info_field(r.value.text, "role");
  const std::string offset = info_field(r.value.text, "master_repl_offset");
  v.repl_offset = offset.empty() ? 0 : std::strtoll(offset.c_str(), nullptr, 10);
}

void Operator::maybe_fail_over(ShardView& shard) {
  std::string& primary = primary_of_shard_[shard.key];
  const NodeView& pv = view_[primary];
  const std::int64_t now = world_.sched().now_ns();
  if (pv.reachable || now - pv.unreachable_since_ns < spec_.failure_detection_delay_ms * 1'000'000) return;
  // The most up-to-date reachable replica takes over.
  std::string best;
  std::int64_t best_offset = -1;
  for (const std::string& m : shard.members) {
    if (m == primary) continue;
    const NodeView& mv = view_[m];
    if (mv.reachable && mv.repl_offset > best_offset) {
      best = m;
      best_offset = mv.repl_offset;
    }
  }
  if (best.empty()) return;
  world_.sched().sleep_for(ms(spec_.failover_delay_ms));
  ClientReply r = world_.admin(best, spec_.failover_argv, ms(5'000));
  world_.decide("operator", "failover",
                {{"shard", shard.key}, {"dead_primary", primary}, {"promoted", best},
                 {"argv", spec_.failover_argv}, {"reply", r.display()}});
  if (r.answered && !r.is_error_reply()) {
    view_[primary].was_unreachable = true;  // re-attach it when it comes back
    primary = best;
  }
}

void Operator::maybe_reattach(const ShardView& shard) {
  const std::string& primary = primary_of_shard_.at(shard.key);
  const int p = world_.node_index(primary);
  const std::int64_t now = world_.sched().now_ns();
  for (const std::string& m : shard.members) {
    if (m == primary) continue;
    NodeView& v = view_[m];
    if (!v.reachable) continue;
    const bool needs = v.was_unreachable || v.role == "master";
    if (!needs) {
      reattach_due_ns_.erase(m);
      continue;
    }
    auto [it, inserted] = reattach_due_ns_.emplace(m, now + spec_.reattach_delay_ms * 1'000'000);
    if (now < it->second) continue;
    ClientReply r = world_.admin(m, {"CLUSTER", "REPLICATE", world_.cluster_node_id(p)}, ms(5'000));
    world_.decide("operator", "reattach", {{"node", m}, {"primary", primary}, {"reply", r.display()}});
    reattach_due_ns_.erase(m);
    if (r.answered && !r.is_error_reply()) v.was_unreachable = false;
  }
}

void Operator::loop() {
  while (!stopped_) {
    for (const ShardView& s : shards_) {
      for (const std::string& m : s.members) poll(m);
    }
    for (ShardView& s : shards_) {
      maybe_fail_over(s);
      maybe_reattach(s);
    }
    world_.sched().sleep_for(ms(spec_.poll_interval_ms));
  }
}

}  // namespace replsim::sim
