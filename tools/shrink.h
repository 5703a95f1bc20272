// tools/shrink.h — the pieces behind `replsim shrink`: from a failing run's report to a small scripted
// scenario that fails the same check.
//
// A report's decision log says which faults the run injected and when. Each injection, together with
// the decision that undid it (a restart after a crash, the heal after a partition, ...), becomes one
// FaultUnit of scripted steps. Delta debugging (Zeller and Hildebrandt, 2002) then removes units, the
// workload is cut short and replica nodes are dropped, keeping each change only while the same check
// still fails. Nothing here feeds a simulation other than through the scenario it builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/env.h"
#include "sim/scenario.h"

namespace replsim::tools {

// One injected fault and the steps that undo it, as scripted steps timed from the safety phase.
struct FaultUnit {
  std::vector<sim::FaultStep> steps;   // in time order; the first one injects the fault
  std::vector<std::size_t> decisions;  // the decision-log indexes the steps came from (for ordering)
  std::set<std::string> nodes;         // every node the steps name
  std::string summary;                 // "crash c0n0 at 3706 ms (swarm:crash_restart)"
};

// Turns a report's decision log into fault units. safety_start_ns is the simulated time the safety
// phase began; safety_end_ns when it ended (undo decisions after it belong to the liveness phase and
// are left out, since that phase heals everything anyway). Scripted admin steps are matched, in order,
// with the original scenario's admin steps so their expectations survive. Decisions of the operator,
// setup and liveness are not faults and are skipped. Errors name the decision and the field.
core::Result<std::vector<FaultUnit>> fault_units_from_decisions(const nlohmann::json& decisions,
                                                                const sim::Scenario& original,
                                                                std::int64_t safety_start_ns,
                                                                std::int64_t safety_end_ns,
                                                                const std::string& where);

// The scenario's fault list made of the chosen units, in time order (ties keep decision-log order).
std::vector<sim::FaultStep> steps_of(const std::vector<FaultUnit>& units, const std::vector<std::size_t>& chosen);

// Delta debugging over `count` elements. `still_fails` receives a batch of candidate subsets (sorted
// index lists) and says for each whether the failure persists; candidates of one batch may be
// evaluated in parallel, and the first failing one in batch order wins, so the result never depends
// on how they were evaluated. Stops after max_trials evaluated candidates (a 1-minimal result needs
// enough of them). Returns the smallest failing subset found; the whole set is assumed to fail.
std::vector<std::size_t> delta_debug(
    std::size_t count, const std::function<std::vector<bool>(const std::vector<std::vector<std::size_t>>&)>& still_fails,
    std::size_t max_trials, std::size_t* trials_used);

struct ShrinkArgs {
  std::string report_path;
  std::string out_path;  // MIN.json
  unsigned jobs = 0;     // 0: one per available CPU
  std::size_t max_trials = 400;
};

// `replsim shrink DIR/report.json --out MIN.json` (tools/shrink.cpp). Exit 0 when MIN.json was written
// and fails the report's check; 1 when the failure does not reproduce in scripted form; 2 bad input.
int shrink_command(const ShrinkArgs& args);

}  // namespace replsim::tools
