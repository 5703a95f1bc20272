// sim/checks/replicate_ok.cpp — the replicate-ok-means-sync check.
#include "sim/checks/replicate_ok.h"

#include <algorithm>

#include <fmt/format.h>

namespace replsim::sim {

namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

}  // namespace

void ReplicateTracker::command(const std::string& node, std::int64_t now_ns, const std::vector<std::string>& argv,
                               AdminOutcome outcome) {
  if (outcome == AdminOutcome::refused || argv.size() < 2 || upper(argv[0]) != "CLUSTER") return;
  const std::string sub = upper(argv[1]);
  const bool replicate = sub == "REPLICATE" && argv.size() >= 3;
  if (!replicate && sub != "FAILOVER" && sub != "RESET") return;
  if (replicate && outcome == AdminOutcome::ok) {
    last_replicate_[node] = Replicate{now_ns, argv[2]};
  } else {
    // A FAILOVER or RESET that answered OK, or any role change whose reply never came (it may have
    // taken effect before the node died): what an earlier REPLICATE asked for no longer holds.
    last_replicate_.erase(node);
  }
}

std::vector<Violation> ReplicateTracker::check(const RunFacts& facts, std::int64_t now_ns) const {
  std::vector<Violation> out;
  for (const NodeFinal& f : facts.finals) {
    auto it = last_replicate_.find(f.node);
    if (it == last_replicate_.end() || !f.up) continue;
    const Replicate& r = it->second;
    nlohmann::json evidence = {{"replicate_at_ns", r.time_ns}, {"replicate_target", r.primary_id},
                               {"role", f.role}, {"link_up", f.link_up}, {"recovering", f.recovering},
                               {"sync_state", f.sync_state}, {"last_sync_error", f.last_sync_error}};
    if (f.role != "replica") {
      out.push_back({"replicate-ok-means-sync", now_ns, f.node,
                     fmt::format("CLUSTER REPLICATE {} answered OK on {} at {} ms and nothing since asked it to "
                                 "change roles, but it ends the run as a {} (last sync error: {})",
                                 r.primary_id, f.node, r.time_ns / 1'000'000, f.role,
                                 f.last_sync_error.empty() ? "none" : f.last_sync_error),
                     evidence});
      continue;
    }
    if (f.link_up && !f.recovering) continue;
    if (!f.last_sync_error.empty()) continue;  // not in sync, but INFO says why
    out.push_back({"replicate-ok-means-sync", now_ns, f.node,
                   fmt::format("CLUSTER REPLICATE {} answered OK on {} at {} ms, but at the end it is not in sync "
                               "(link {}, sync state {}) and INFO shows no sync error",
                               r.primary_id, f.node, r.time_ns / 1'000'000, f.link_up ? "up" : "down", f.sync_state),
                   evidence});
  }
  return out;
}

}  // namespace replsim::sim
