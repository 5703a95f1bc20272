// sim/world.h — the simulated world of one run: kernel, network, disks, and a store per node.
//
// The world owns everything a run is made of and gives the harness (faults, workload, operator,
// checks) one place to act: crash, restart, pause and resume a node, send it an admin command, read
// its state. It builds a fresh core::Store on every (re)start from that node's disk, and destroys it
// only after the kernel has unwound the node's fibers. Every action is traced and, when it is a fault,
// written to the decision log.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store.h"
#include "sim/buggify.h"
#include "sim/checks/check.h"
#include "sim/client.h"
#include "sim/kernel/disk.h"
#include "sim/kernel/network.h"
#include "sim/kernel/scheduler.h"
#include "sim/kernel/trace.h"
#include "sim/scenario.h"
#include "sim/sim_env.h"

namespace replsim::sim {

// One entry of the fault decision log: what was done, when, by whom, and why.
struct Decision {
  std::int64_t time_ns = 0;
  std::string source;  // "script", "swarm:<family>", "operator", "liveness", "setup"
  std::string action;  // "crash", "restart", "partition", ...
  nlohmann::json detail;

  nlohmann::json to_json() const;
};

struct WorldOptions {
  std::uint64_t seed = 1;
  std::vector<std::string> bugs;  // known-bug switches to turn on in every store
  std::size_t trace_ring = 512;
};

class World {
 public:
  World(const Scenario& scenario, WorldOptions options);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  kernel::Scheduler& sched() { return *sched_; }
  kernel::Network& net() { return *net_; }
  kernel::Trace& trace() { return trace_; }
  Buggify& buggify() { return *buggify_; }
  const Scenario& scenario() const { return scenario_; }
  std::uint64_t seed() const { return options_.seed; }

  // ---- nodes ----------------------------------------------------------------------------------
  int node_count() const { return static_cast<int>(nodes_.size()); }
  const std::string& node_name(int i) const { return nodes_[static_cast<std::size_t>(i)].spec.name; }
  // -1 when unknown.
  int node_index(const std::string& name) const;
  const NodeSpec& node_spec(int i) const { return nodes_[static_cast<std::size_t>(i)].spec; }
  kernel::Disk& disk(int i) { return *nodes_[static_cast<std::size_t>(i)].disk; }
  kernel::NodeId kernel_id(int i) const { return nodes_[static_cast<std::size_t>(i)].id; }
  kernel::NodeState state(int i) const { return sched_->node_state(kernel_id(i)); }
  // The running store, or nullptr when the node is down or its store has not started (yet).
  core::Store* store(int i);
  bool started(int i) const { return nodes_[static_cast<std::size_t>(i)].started; }
  const std::string& start_error(int i) const { return nodes_[static_cast<std::size_t>(i)].start_error; }
  // The cluster node id (40 hex) of a node, as CLUSTER MYID answered during setup ("" before).
  std::string cluster_node_id(int i) const;
  void set_cluster_node_id(int i, std::string id) { nodes_[static_cast<std::size_t>(i)].cluster_id = std::move(id); }

  // ---- process faults (call from timers or harness tasks) -------------------------------------
  void start_all();
  void crash(int i, const std::string& source, const std::string& reason);
  void restart(int i, const std::string& source);
  void pause(int i, const std::string& source);
  void resume(int i, const std::string& source);

  // ---- admin commands (REQUIRES: called from a harness task) ----------------------------------
  // Expands ${node:..}/${addr:..}/${host:..}/${port:..} placeholders, sends, waits for the reply.
  ClientReply admin(const std::string& node, const std::vector<std::string>& argv,
                    kernel::Nanos timeout);
  std::string expand_arg(const std::string& arg);
  // Sees every admin command (placeholders expanded) and its reply, for the online checks.
  using AdminObserver = std::function<void(const std::string& node, const std::vector<std::string>& argv,
                                           const ClientReply& reply)>;
  void set_admin_observer(AdminObserver observer) { admin_observer_ = std::move(observer); }
  // Global virtual time at which the node's current store finished starting (-1 when it has not).
  std::int64_t started_at_ns(int i) const { return nodes_[static_cast<std::size_t>(i)].started_at_ns; }

  // ---- records --------------------------------------------------------------------------------
  void decide(std::string source, std::string action, nlohmann::json detail);
  const std::vector<Decision>& decisions() const { return decisions_; }
  const std::vector<AbortRecord>& aborts() const { return aborts_; }
  AddressBook address_book();

 private:
  struct Node {
    NodeSpec spec;
    std::string cluster;
    kernel::NodeId id = 0;
    std::unique_ptr<kernel::Disk> disk;
    std::unique_ptr<kernel::Rng> crash_rng;
    std::unique_ptr<SimEnv> env;
    std::unique_ptr<core::Store> store;
    bool started = false;
    std::int64_t started_at_ns = -1;
    std::string start_error;
    std::string cluster_id;
  };

  void boot(int i);
  core::StoreConfig store_config(const Node& n) const;

  Scenario scenario_;
  WorldOptions options_;
  kernel::Trace trace_;
  std::unique_ptr<kernel::Scheduler> sched_;
  std::unique_ptr<kernel::Network> net_;
  std::unique_ptr<Buggify> buggify_;
  std::vector<Node> nodes_;
  // (name, index into nodes_), sorted by name: node_index's lookup (the first of equal names).
  std::vector<std::pair<std::string, int>> index_by_name_;
  std::vector<Decision> decisions_;
  std::vector<AbortRecord> aborts_;
  // Admin clients, one per admin command in flight (scripted steps and the operator may overlap;
  // sharing one connection between them would interleave their replies). Reused in order.
  struct AdminClient {
    std::unique_ptr<SimClient> client;
    bool busy = false;
  };
  std::vector<AdminClient> admin_clients_;
  AdminObserver admin_observer_;
};

}  // namespace replsim::sim
