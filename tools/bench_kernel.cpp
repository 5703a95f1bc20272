// tools/bench_kernel.cpp — `replsim bench kernel`: raw speed of the simulation kernel.
//
// fiber switches/s: tasks that yield to each other through the scheduler (each yield is two context
// switches plus one queue push/pop); timer events/s: callbacks scheduled at pseudo-random future
// times; messages/s: bytes streams between simulated nodes (when the network is built in).
#include <time.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "sim/kernel/network.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/scheduler.h"
#include "tools/bench.h"

namespace replsim::tools {

namespace {

using WallClock = std::chrono::steady_clock;

double seconds_since(WallClock::time_point start) {
  return std::chrono::duration<double>(WallClock::now() - start).count();
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A rate over wall time and over this process's CPU time: on a shared machine the wall rate drops
// whenever another process holds the core, the CPU rate much less.
struct Rate {
  double per_wall_s = 0;
  double per_cpu_s = 0;
};

class Stopwatch {
 public:
  Stopwatch() : wall_(WallClock::now()), cpu_(cpu_seconds()) {}
  Rate rate(double count) const {
    return {count / seconds_since(wall_), count / (cpu_seconds() - cpu_)};
  }

 private:
  WallClock::time_point wall_;
  double cpu_;
};

Rate fiber_switches_per_s(std::uint64_t yields_per_task) {
  kernel::Trace trace(0);
  kernel::Scheduler sched(trace);
  constexpr int kTasks = 8;
  for (int i = 0; i < kTasks; ++i) {
    sched.spawn(kernel::kNoNode, "yielder", [&sched, yields_per_task] {
      for (std::uint64_t k = 0; k < yields_per_task; ++k) sched.yield();
    });
  }
  const Stopwatch watch;
  sched.run(kernel::SimTime(kernel::Nanos(1)));
  while (!sched.empty()) sched.run(kernel::SimTime(kernel::Nanos(INT64_MAX)));
  return watch.rate(static_cast<double>(sched.fiber_switches()));
}

Rate timer_events_per_s(std::uint64_t timers) {
  kernel::Trace trace(0);
  kernel::Scheduler sched(trace);
  kernel::Rng rng(1, "bench/timers");
  std::uint64_t fired = 0;
  const Stopwatch watch;
  // Keep a standing population of pending timers, as a simulation does: each one schedules the next.
  constexpr int kPending = 10000;
  std::uint64_t scheduled = 0;
  std::function<void()> tick = [&] {
    ++fired;
    if (scheduled < timers) {
      ++scheduled;
      sched.after(kernel::Nanos(static_cast<std::int64_t>(rng.below(1'000'000))), [&] { tick(); });
    }
  };
  for (int i = 0; i < kPending; ++i) {
    ++scheduled;
    sched.after(kernel::Nanos(static_cast<std::int64_t>(rng.below(1'000'000))), [&] { tick(); });
  }
  sched.run(kernel::SimTime(kernel::Nanos(INT64_MAX)));
  return watch.rate(static_cast<double>(fired));
}

// Pairs of nodes streaming small messages to each other over simulated connections: every message is
// a send, a scheduled delivery and a wake-up of the receiving task.
Rate messages_per_s(std::uint64_t messages_per_pair) {
  kernel::Trace trace(0);
  kernel::Scheduler sched(trace);
  kernel::Network net(sched, 1);
  constexpr int kPairs = 4;
  std::uint64_t received = 0;
  for (int p = 0; p < kPairs; ++p) {
    const kernel::NodeId a = sched.add_node(fmt::format("a{}", p));
    const kernel::NodeId b = sched.add_node(fmt::format("b{}", p));
    sched.spawn(b, "sink", [&, b, messages_per_pair] {
      auto listener = net.listen(b, 9000);
      auto conn = listener.value()->accept(kernel::kForever);
      if (!conn) return;
      std::uint64_t bytes = 0;
      while (bytes < messages_per_pair * 16) {
        auto data = conn.value()->recv(1 << 16, kernel::kForever);
        if (!data) return;
        bytes += data->size();
      }
      received += bytes / 16;
    });
    sched.spawn(a, "source", [&, a, b, messages_per_pair] {
      auto conn = net.connect(a, b, 9000, kernel::Nanos(std::chrono::seconds(5)));
      if (!conn) return;
      for (std::uint64_t i = 0; i < messages_per_pair; ++i) {
        if (!conn.value()->send("0123456789abcdef")) return;
        if (i % 64 == 63) sched.sleep_for(kernel::Nanos(std::chrono::microseconds(50)));
      }
      sched.sleep_for(kernel::kForever);
    });
  }
  const Stopwatch watch;
  sched.run(kernel::SimTime(kernel::Nanos(INT64_MAX)));
  return watch.rate(static_cast<double>(net.stats().sends));
}

}  // namespace

int bench_kernel(const BenchOptions& options) {
  const auto n = [&](double base) { return static_cast<std::uint64_t>(base * options.scale) + 1; };
  const auto print = [](const char* name, Rate r) {
    std::printf("kernel.%s_per_s=%.0f\n", name, r.per_wall_s);
    std::printf("kernel.%s_per_cpu_s=%.0f\n", name, r.per_cpu_s);
    std::fflush(stdout);
  };
  print("fiber_switches", fiber_switches_per_s(n(2'000'000)));
  print("timer_events", timer_events_per_s(n(5'000'000)));
  print("messages", messages_per_s(n(250'000)));
  return 0;
}

}  // namespace replsim::tools
