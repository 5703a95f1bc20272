// sim/checks/recovering.cpp — the no-stuck-recovering check.
#include "sim/checks/recovering.h"

#include <fmt/format.h>

namespace replsim::sim {

bool RecoveringMonitor::attempt_in_flight(const std::string& sync_state) {
  return sync_state == "connecting" || sync_state == "transfer" || sync_state == "installing";
}

void RecoveringMonitor::sample(const std::string& node, std::int64_t now_ns, const RecoveringSample& s) {
  Episode& e = episodes_[node];
  const bool stuck = s.recovering && (s.primary || !attempt_in_flight(s.sync_state));
  if (!stuck) {
    e = Episode{};
    return;
  }
  if (e.since_ns < 0) e.since_ns = now_ns;
  if (e.reported || now_ns - e.since_ns < grace_ns_) return;
  e.reported = true;
  violations_.push_back(
      {"no-stuck-recovering", now_ns, node,
       fmt::format("{} has been recovering for {} ms as a {} with no sync attempt of its own in flight (sync "
                   "state {})",
                   node, (now_ns - e.since_ns) / 1'000'000, s.primary ? "primary" : "replica", s.sync_state),
       {{"since_ns", e.since_ns}, {"role", s.primary ? "primary" : "replica"}, {"sync_state", s.sync_state}}});
}

void RecoveringMonitor::node_down(const std::string& node) { episodes_.erase(node); }

void RecoveringMonitor::reply(const std::string& node, std::int64_t now_ns, const std::string& command,
                              const std::string& reply, bool primary_owns_slot, std::int64_t up_for_ns) {
  if (!reply.starts_with("CLUSTERDOWN") || !primary_owns_slot || up_for_ns < quiet_ns_) return;
  if (clusterdown_reported_[node]) return;
  clusterdown_reported_[node] = true;
  violations_.push_back({"no-stuck-recovering", now_ns, node,
                         fmt::format("{} owns the slot of `{}` as a primary and has been up {} ms, yet answered {}",
                                     node, command, up_for_ns / 1'000'000, reply),
                         {{"command", command}, {"reply", reply}, {"up_for_ms", up_for_ns / 1'000'000}}});
}

std::vector<Violation> check_no_stuck_recovering_final(const RunFacts& facts, std::int64_t now_ns) {
  std::vector<Violation> out;
  for (const NodeFinal& f : facts.finals) {
    if (!f.up || !f.recovering) continue;
    out.push_back({"no-stuck-recovering", now_ns, f.node,
                   fmt::format("{} is still recovering after the liveness phase (role {}, sync state {}, last sync "
                               "error: {})",
                               f.node, f.role, f.sync_state, f.last_sync_error.empty() ? "none" : f.last_sync_error),
                   {{"role", f.role}, {"sync_state", f.sync_state}, {"last_sync_error", f.last_sync_error}}});
  }
  return out;
}

}  // namespace replsim::sim
