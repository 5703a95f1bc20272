// sim/run.h — one run of one scenario with one seed: setup → safety → liveness → final checks.
//
// run_scenario builds the world, derives every seed-dependent choice (swarm families and their
// intensities), runs the phases, applies the scenario's checks and returns everything a report needs.
// It is a pure function of (scenario, seed, bugs): the same inputs give the same trace hash.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/checks/check.h"
#include "sim/faults.h"
#include "sim/history.h"
#include "sim/kernel/trace.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace replsim::sim {

// Where a run is, for the watchdog and for the message of a limit that stopped it.
struct RunProgress {
  std::int64_t sim_ns = 0;
  std::uint64_t events = 0;  // scheduler events run so far
  std::string_view phase;    // "setup", "topology", "setup commands", "safety", "liveness"
};

// A limit the run hit. kind is one of "sim-time", "events", "livelock", "deadlock" (decided by the
// simulator) or what a watchdog names ("wall-time", "memory").
struct LimitHit {
  std::string kind;
  std::string detail;  // what was exceeded and what to do, without the position (added by the run)
};

struct RunOptions {
  std::uint64_t seed = 1;
  std::vector<std::string> bugs;
  // Receives every trace event as it happens (--trace, trace.jsonl); may be empty.
  std::function<void(const kernel::TraceEvent&)> trace_sink;
  bool keep_hash_sequence = false;
  // Called every kWatchdogEvents scheduler events; a LimitHit stops the run with Verdict::error. The
  // CLI checks real time and memory here, which the simulator itself must never read.
  std::function<std::optional<LimitHit>(const RunProgress&)> watchdog;
  // Test hook: runs inside the director task when the safety phase begins (it may block it).
  std::function<void(World&)> on_safety_start;
};

inline constexpr std::uint64_t kWatchdogEvents = 4096;
// The livelock guard: this many scheduler events in a row must advance simulated time by at least
// kStallAdvanceMinNs (a million events in under 10 ms). Real work is far sparser — a busy fuzz run
// has a few thousand events per simulated second, since every simulated operation takes time; a task
// spinning on yield() or on nanosecond sleeps is that dense.
inline constexpr std::uint64_t kStallEvents = 1'000'000;
inline constexpr std::int64_t kStallAdvanceMinNs = 10'000'000;

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
  // For a run a limit stopped: which limit, and where the run was.
  struct Limit {
    std::string kind;  // see LimitHit
    std::string phase;
    std::int64_t sim_ns = 0;
    std::uint64_t events = 0;
  };
  std::optional<Limit> limit;
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
