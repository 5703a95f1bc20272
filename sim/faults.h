// sim/faults.h — the two sources of faults: the scenario's script and the swarm generators.
//
// Scripted steps run at their time (from the start of the safety phase). Swarm generators are chosen
// per seed — each family on or off, with its intensity drawn from the scenario's ranges (swarm
// testing: Groce et al. 2012) — and then inject faults of their family until the safety phase ends,
// staying inside the scenario's fault budget. Every fault, and every undoing of one, goes into the
// world's decision log. heal_all() undoes everything for the liveness phase.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/checks/check.h"
#include "sim/kernel/rng.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace replsim::sim {

// What the seed chose for one swarm family.
struct SwarmChoice {
  bool enabled = false;
  std::int64_t mean_interval_ms = 0;
  double probability = 0.0;           // disk_eio, bitflip
  std::int64_t extra_latency_ms = 0;  // clog
  double activation_probability = 0;  // buggify
  double fire_probability = 0;        // buggify
  double primary_bias = 0;            // crash_restart, pause: chance a fault targets a primary
};

struct SwarmPlan {
  std::array<SwarmChoice, SwarmSpec::kFamilyCount> families{};
  // "swarm=crash_restart:on(interval=12000ms),partition:off,..." for the SEED= line.
  std::string summary() const;
  nlohmann::json to_json() const;
};

// Draws the per-seed swarm choices from Rng(seed, "swarm/plan").
SwarmPlan plan_swarm(const SwarmSpec& spec, std::uint64_t seed);

class FaultInjector {
 public:
  FaultInjector(World& world, SwarmPlan plan, std::vector<Violation>* violations);

  // Schedules the scenario's scripted steps relative to safety_start_ns.
  void schedule_script(std::int64_t safety_start_ns);
  // Starts one generator task per enabled family; they stop injecting at end_ns.
  void start_swarm(std::int64_t end_ns);
  // Liveness: heals partitions, clogs, disk faults and clock skew; restarts crashed nodes and
  // resumes paused ones (each as the scenario's liveness options say).
  void heal_all(bool heal, bool restart);
  // Scripted admin steps still running (the run waits for them before judging).
  int admin_in_flight() const { return admin_in_flight_; }

 private:
  // source names who decided it in the decision log ("script", or the swarm family).
  void run_step(const FaultStep& step, const std::string& source = "script");
  void apply_disk_fault(int node, const DiskFaultStep& step, const std::string& source);
  void swarm_loop(SwarmSpec::Family family, std::int64_t end_ns);
  bool may_take_down(int node) const;
  int random_node(kernel::Rng& rng) const;
  // A node that is up and serves as a primary of slots (any node outside cluster mode), or
  // random_node when there is none.
  int random_primary(kernel::Rng& rng) const;
  std::vector<kernel::Host> hosts_of(const std::vector<std::string>& names) const;

  World& world_;
  SwarmPlan plan_;
  std::vector<Violation>* violations_;
  kernel::Rng rng_;
  int admin_in_flight_ = 0;
};

}  // namespace replsim::sim
