// sim/run.h — one run of one scenario with one seed: setup → safety → liveness → final checks.
//
// run_scenario builds the world, derives every seed-dependent choice (swarm families and their
// intensities), runs the phases, applies the scenario's checks and returns everything a report needs.
// It is a pure function of (scenario, seed, bugs): the same inputs give the same trace hash.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/checks/check.h"
#include "sim/faults.h"
#include "sim/history.h"
#include "sim/kernel/trace.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace replsim::sim {

struct RunOptions {
  std::uint64_t seed = 1;
  std::vector<std::string> bugs;
  // Receives every trace event as it happens (--trace, trace.jsonl); may be empty.
  std::function<void(const kernel::TraceEvent&)> trace_sink;
  bool keep_hash_sequence = false;
};

enum class Verdict : std::uint8_t { pass, fail, error };
std::string_view verdict_name(Verdict v);

struct RunStats {
  std::uint64_t trace_events = 0;
  std::uint64_t scheduler_events = 0;
  std::int64_t sim_ns = 0;
  std::uint64_t fiber_switches = 0;
  std::uint64_t ops_invoked = 0;
  std::uint64_t ops_ok = 0;
  std::uint64_t ops_failed = 0;
  std::uint64_t ops_unknown = 0;
  std::uint64_t faults = 0;  // decisions that inject or undo a fault
  std::uint64_t messages = 0;
  std::uint64_t crashes = 0;

  nlohmann::json to_json() const;
};

struct RunResult {
  Verdict verdict = Verdict::pass;
  std::string error;  // for Verdict::error: what went wrong (limit hit, internal problem)
  std::vector<Violation> violations;
  std::uint64_t trace_hash = 0;
  std::vector<std::uint64_t> hash_sequence;
  RunStats stats;
  SwarmPlan swarm;
  std::vector<Decision> decisions;
  History history;
  std::vector<NodeFinal> finals;
  std::vector<kernel::TraceEvent> recent_events;  // the trace's last events, for the report

  // The check named on the FAIL line: the first violation's.
  std::string first_failed_check() const;
};

// The derived parameters printed after SEED= (swarm choices and the like).
std::string derived_parameters(const Scenario& scenario, std::uint64_t seed);

RunResult run_scenario(const Scenario& scenario, const RunOptions& options);

}  // namespace replsim::sim
