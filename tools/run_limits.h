// tools/run_limits.h — the limits of one run that only the CLI may check: real (wall) time per seed,
// and where a sweep worker is, for the parent to report when the worker dies.
//
// The simulator must never read a wall clock (determinism), so the CLI hands it a watchdog
// (sim::RunOptions::watchdog) that the run calls every few thousand events. Nothing here changes what
// a run does unless a limit is hit.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "sim/run.h"

namespace replsim::tools {

// Where a run was at its last watchdog call. A sweep keeps one in memory shared with each worker
// process, so the worker's position survives its death (a signal, the wall budget, the memory limit).
struct RunPosition {
  std::int64_t sim_ns = 0;
  std::uint64_t events = 0;
  char phase[32] = {};
  std::uint32_t valid = 0;  // 1 once the run wrote a position

  // "at 12.345 s of simulated time, after 67890 events, in the safety phase" or "" when not valid.
  std::string describe() const;
};

// A watchdog that stops the run with a "wall-time" limit once wall_time_ms of real time have passed
// since it was made (0: no limit), and records each position into `position` when not null.
std::function<std::optional<sim::LimitHit>(const sim::RunProgress&)> make_run_watchdog(std::int64_t wall_time_ms,
                                                                                       RunPosition* position);

}  // namespace replsim::tools

namespace replsim::tools {

// A last resort for a run stuck inside one event (code that loops without ever returning to the
// scheduler, so no watchdog call comes): after wall_time_ms plus a grace of kStuckGraceMs, a SIGALRM
// handler prints what it knows (the last position) to stderr and exits with status 3. 0: none.
inline constexpr std::int64_t kStuckGraceMs = 10'000;
void arm_stuck_run_alarm(std::int64_t wall_time_ms, const RunPosition* position);
void disarm_stuck_run_alarm();

}  // namespace replsim::tools
