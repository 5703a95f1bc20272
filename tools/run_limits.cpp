// tools/run_limits.cpp — the wall-time watchdog and run positions (see run_limits.h).
#include "tools/run_limits.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace replsim::tools {

std::string RunPosition::describe() const {
  if (valid != 1) return {};
  const std::string p(phase, strnlen(phase, sizeof phase));
  return fmt::format("at {:.3f} s of simulated time, after {} events, in the {} phase", static_cast<double>(sim_ns) / 1e9,
                     events, p.empty() ? "?" : p);
}

std::function<std::optional<sim::LimitHit>(const sim::RunProgress&)> make_run_watchdog(std::int64_t wall_time_ms,
                                                                                       RunPosition* position) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  return [start, wall_time_ms, position](const sim::RunProgress& p) -> std::optional<sim::LimitHit> {
    if (position != nullptr) {
      position->sim_ns = p.sim_ns;
      position->events = p.events;
      const std::size_t n = std::min(p.phase.size(), sizeof position->phase - 1);
      std::memcpy(position->phase, p.phase.data(), n);
      position->phase[n] = '\0';
      position->valid = 1;
    }
    if (wall_time_ms <= 0) return std::nullopt;
    const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    if (elapsed_ms < wall_time_ms) return std::nullopt;
    return sim::LimitHit{"wall-time", fmt::format("limits.wall_time_ms={} of real time passed ({} ms) before the run "
                                                  "finished; the run is too slow for its limit (a busy loop, or a "
                                                  "scenario that needs a larger limits.wall_time_ms)",
                                                  wall_time_ms, elapsed_ms)};
  };
}

}  // namespace replsim::tools

// ---- the stuck-run alarm ------------------------------------------------------------------------

namespace replsim::tools {

namespace {

const RunPosition* g_alarm_position = nullptr;
std::int64_t g_alarm_wall_ms = 0;

// Async-signal-safe output: write(2) and hand-made decimal conversion only.
void write_text(const char* text) { (void)!::write(STDERR_FILENO, text, std::strlen(text)); }
void write_u64(std::uint64_t v) {
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && i > 0);
  write_text(buf + i);
}

void on_stuck_alarm(int) {
  write_text("replsim: wall-time limit: the run did not return to the simulator's event loop for ");
  write_u64(static_cast<std::uint64_t>(kStuckGraceMs));
  write_text(" ms after limits.wall_time_ms=");
  write_u64(static_cast<std::uint64_t>(g_alarm_wall_ms));
  write_text(" (code that loops inside one event without waiting)");
  if (g_alarm_position != nullptr && g_alarm_position->valid == 1) {
    write_text("; last seen at ");
    write_u64(static_cast<std::uint64_t>(g_alarm_position->sim_ns / 1'000'000));
    write_text(" ms of simulated time, after ");
    write_u64(g_alarm_position->events);
    write_text(" events, in the ");
    write_text(g_alarm_position->phase);
    write_text(" phase");
  }
  write_text("\n");
  _exit(3);
}

}  // namespace

void arm_stuck_run_alarm(std::int64_t wall_time_ms, const RunPosition* position) {
  if (wall_time_ms <= 0) return;
  g_alarm_position = position;
  g_alarm_wall_ms = wall_time_ms;
  std::signal(SIGALRM, on_stuck_alarm);
  const std::int64_t seconds = (wall_time_ms + kStuckGraceMs + 999) / 1000;
  alarm(static_cast<unsigned>(std::min<std::int64_t>(seconds, 1'000'000)));
}

void disarm_stuck_run_alarm() {
  alarm(0);
  std::signal(SIGALRM, SIG_DFL);
}

}  // namespace replsim::tools
