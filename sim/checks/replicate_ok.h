// sim/checks/replicate_ok.h — the replicate-ok-means-sync check (incident 000).
//
// The run shows the tracker every admin command and how it ended (setup, scripted steps, the
// operator, the topology builder). For each node whose last role-changing command (REPLICATE,
// FAILOVER, RESET) was a REPLICATE that answered OK, the node must end the run as a replica that is
// in sync, or one whose INFO shows why it is not (last_sync_error) — never as a silent non-replica or
// a replica that neither syncs nor says why. A role-changing command that got no reply (the node
// died, the connection was reset) may have taken effect, so it ends what an earlier REPLICATE asked;
// one refused with an error reply did not. Scripted steps that name the check and expect
// master_link_status:up are judged where they run (sim/faults.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/checks/check.h"

namespace replsim::sim {

// How an admin command ended, as far as the client can tell.
enum class AdminOutcome : std::uint8_t {
  ok,       // answered OK
  refused,  // answered with an error (or anything else): it did not take effect
  unknown,  // no reply: it may or may not have taken effect
};

class ReplicateTracker {
 public:
  // An admin command and how it ended; only role-changing commands count.
  void command(const std::string& node, std::int64_t now_ns, const std::vector<std::string>& argv,
               AdminOutcome outcome);

  struct Replicate {
    std::int64_t time_ns = 0;
    std::string primary_id;
  };
  // Nodes whose last role change was an OK REPLICATE.
  const std::map<std::string, Replicate>& pending() const { return last_replicate_; }

  std::vector<Violation> check(const RunFacts& facts, std::int64_t now_ns) const;

 private:
  std::map<std::string, Replicate> last_replicate_;
};

}  // namespace replsim::sim
