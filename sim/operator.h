// sim/operator.h — a simulated orchestrator, what a Kubernetes operator or Sentinel would do.
//
// It polls every node of every sharded cluster. When a shard's primary has been unreachable for the
// failure-detection delay it waits the failover delay and promotes the most up-to-date reachable
// replica with the scenario's failover command (CLUSTER FAILOVER FORCE by default). When a node that
// is not its shard's primary comes back (or reports itself a primary), it re-attaches it with
// CLUSTER REPLICATE after the re-attach delay. Every action goes into the decision log. It only talks
// to the store through admin commands, like a real operator.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/scenario.h"
#include "sim/world.h"

namespace replsim::sim {

class Operator {
 public:
  Operator(World& world, OperatorSpec spec);

  // Spawns the polling task; it runs until stop() (the end of the run).
  void start();
  void stop() { stopped_ = true; }
  // The primary the operator believes each shard has, by the shard's initial primary name.
  const std::map<std::string, std::string>& primaries() const { return primary_of_shard_; }

 private:
  struct NodeView {
    bool reachable = true;
    std::int64_t unreachable_since_ns = -1;
    bool was_unreachable = false;
    std::string role;  // "master" or "slave", from INFO replication
    std::int64_t repl_offset = 0;
  };
  struct ShardView {
    std::string key;       // the shard's initial primary name (stable id of the shard)
    std::vector<std::string> members;
  };

  void loop();
  void poll(const std::string& node);
  void maybe_fail_over(ShardView& shard);
  void maybe_reattach(const ShardView& shard);

  World& world_;
  OperatorSpec spec_;
  bool stopped_ = false;
  std::vector<ShardView> shards_;
  std::map<std::string, std::string> primary_of_shard_;
  std::map<std::string, NodeView> view_;
  std::map<std::string, std::int64_t> reattach_due_ns_;
};

}  // namespace replsim::sim
