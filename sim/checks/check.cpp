// sim/checks/check.cpp — the check catalogue and the violation record.
#include "sim/checks/check.h"

namespace replsim::sim {

nlohmann::json Violation::to_json() const {
  nlohmann::json j;
  j["check"] = check;
  j["time_ns"] = time_ns;
  j["node"] = node;
  j["message"] = message;
  j["evidence"] = evidence.is_null() ? nlohmann::json::object() : evidence;
  return j;
}

const std::vector<CheckInfo>& check_catalogue() {
  static const std::vector<CheckInfo> kChecks = {
      {"no-stuck-recovering",
       "a node is recovering only while its own sync or failover task runs; none after liveness; no "
       "CLUSTERDOWN from a slot-owning primary once the cluster is quiet",
       "incident 001 (garnet #226)"},
      {"no-duplicate-list-entries",
       "no list element appears twice in any read or in any node's final state (every push is unique)",
       "incident 000 (garnet #1116, #1153)"},
      {"valid-checkpoint-decrees",
       "checkpoint decrees are >= 1 and <= the AOF tail; a duplication in PREPARE or later has "
       "1 <= min_checkpoint_decree <= last committed; confirmed decrees never decrease",
       "incident 004 (pegasus #2098)"},
      {"replicas-converge",
       "after liveness every replica's DEBUG DIGEST equals its primary's and its AOF equals the "
       "primary's address for address; every duplication has shipped everything and its target holds "
       "exactly its source's keys",
       "incidents 000, 003 (kvrocks #2214) and 004"},
      {"single-primary-per-slot",
       "after liveness one primary per slot, all nodes agree on the newest config, persisted roles "
       "match it",
       "incident 002 (garnet #1044)"},
      {"replicate-ok-means-sync",
       "a CLUSTER REPLICATE that answered OK ends in a synced replica or a visible sync error in INFO",
       "incident 000 (garnet #1116)"},
      {"aof-readable", "every AOF and checkpoint the store wrote reads back to its valid end",
       "incident 000 (garnet #1116)"},
      {"acknowledged-writes-durable",
       "with fsync always (or WAIT satisfied) an acknowledged write is never lost by crashes and "
       "failovers within the fault budget",
       "incidents 002 and 003"},
      {"no-abort", "no node aborts on an internal assertion (a crash loop is a failure, with the message)",
       "incident 004 (pegasus #2098)"},
  };
  return kChecks;
}

const CheckInfo* find_check(std::string_view id) {
  for (const CheckInfo& c : check_catalogue()) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

}  // namespace replsim::sim
