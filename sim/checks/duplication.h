// sim/checks/duplication.h — what the checks demand of cross-cluster duplication (incident 004):
// valid-checkpoint-decrees for every duplication (online and final), and, under replicas-converge,
// that after liveness every duplication is shipping and its target holds exactly its source's keys.
//
// The checks read what the run gives them (samples of each source node's duplications, NodeFinal
// records); they never touch a node. The store's side is core/doc/duplication.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/checks/check.h"

namespace replsim::sim {

// valid-checkpoint-decrees for one duplication of one node, at one moment: a duplication past INIT
// (PREPARE, APP, LOG, PAUSE) has 1 <= min_checkpoint_decree <= the node's last decree (an orphaned one,
// whose node became a replica and may have taken another history, only needs >= 1).
std::optional<Violation> check_duplication_decrees(const std::string& node, std::int64_t now_ns,
                                                   const DuplicationFinal& d, std::int64_t last_decree);

// The online part of valid-checkpoint-decrees: every sample is judged as above, and a duplication's
// confirmed decree (per node and stream) must never decrease, across restarts too. One violation per
// node, duplication and kind.
class DuplicationDecreeMonitor {
 public:
  void sample(const std::string& node, std::int64_t now_ns, const DuplicationFinal& d, std::int64_t last_decree);
  const std::vector<Violation>& violations() const { return violations_; }

 private:
  void report(Violation v, const std::string& key);
  std::map<std::string, std::uint64_t> confirmed_;  // "node/stream" -> highest confirmed decree seen
  std::set<std::string> reported_;
  std::vector<Violation> violations_;
};

// The final part of valid-checkpoint-decrees over every running node's duplications.
std::vector<Violation> check_duplication_decrees_final(const RunFacts& facts, std::int64_t now_ns);

// One duplication of the scenario: source cluster -> target cluster, named `id` on the source's
// primaries.
struct DuplicationLink {
  std::string id;
  std::string source;
  std::string target;
};

// replicas-converge for duplications (after liveness): each running primary of the source cluster
// holds the duplication in LOG with everything shipped (shipped decree = its last decree), and the
// target cluster's primaries together hold exactly the keys and values of the source's primaries
// together (progress keys aside). A duplication the script paused or removed is not judged; one that
// stopped because a failover orphaned it is. Evidence names the first differing key.
std::vector<Violation> check_duplications_converge(const std::vector<DuplicationLink>& links, const RunFacts& facts,
                                                   std::int64_t now_ns);

}  // namespace replsim::sim
