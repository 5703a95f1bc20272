// sim/checks/recovering.h — the no-stuck-recovering check (incident 001), online and final.
//
// The run samples every running node while it goes and shows the monitor every reply a node gives
// to a client; the monitor reports a node that stays recovering without a sync attempt of its own in
// flight (or while it is a primary), and a primary that answers CLUSTERDOWN for a slot it owns once it
// has been up long enough to have heard the cluster. After liveness no node may be recovering at all.
// The monitor only reads what it is given; it never touches a node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/checks/check.h"

namespace replsim::sim {

// What the run sees of one node at one moment.
struct RecoveringSample {
  bool primary = false;     // its running role
  bool recovering = false;  // the flag that makes it refuse keys
  std::string sync_state;   // core::sync_state_name of its sync task ("none" without one)
};

class RecoveringMonitor {
 public:
  // grace_ns: how long a node may look stuck before it is reported (a sample may fall between two
  // steps of one state change). quiet_ns: how long a node must have been up before a CLUSTERDOWN for a
  // slot it owns counts (a restarted node rightly refuses keys until it has heard the cluster).
  RecoveringMonitor(std::int64_t grace_ns, std::int64_t quiet_ns) : grace_ns_(grace_ns), quiet_ns_(quiet_ns) {}

  // Whether a sync attempt is in flight in this sync state (the only time recovering may be set).
  static bool attempt_in_flight(const std::string& sync_state);

  void sample(const std::string& node, std::int64_t now_ns, const RecoveringSample& s);
  // The node went down: whatever it looked like is over.
  void node_down(const std::string& node);
  // A reply the node gave. primary_owns_slot: the node ran as a primary and its config gave it the
  // command's key slot when it answered; up_for_ns: how long it had been up.
  void reply(const std::string& node, std::int64_t now_ns, const std::string& command, const std::string& reply,
             bool primary_owns_slot, std::int64_t up_for_ns);

  const std::vector<Violation>& violations() const { return violations_; }

 private:
  struct Episode {
    std::int64_t since_ns = -1;  // when the node was first seen stuck; -1: not stuck
    bool reported = false;
  };
  std::int64_t grace_ns_;
  std::int64_t quiet_ns_;
  std::map<std::string, Episode> episodes_;
  std::map<std::string, bool> clusterdown_reported_;
  std::vector<Violation> violations_;
};

// The final part: no running node is recovering after the liveness phase.
std::vector<Violation> check_no_stuck_recovering_final(const RunFacts& facts, std::int64_t now_ns);

}  // namespace replsim::sim
