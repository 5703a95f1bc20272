// tools/bench.h — benchmark entry points of the replsim CLI. Each prints one `name=value` figure a
// line; benchmarks report numbers and never assert (machines are shared and noisy).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace replsim::tools {

struct BenchOptions {
  double scale = 1.0;  // multiplies the amount of work (0.1 for a quick smoke run)
  std::vector<std::string> paths;  // e2e: scenario files or folders (default scenarios/fuzz)
  std::string redis_server = "redis-server";  // compare: the real server to start
};

// Fiber switches, timer events and simulated messages per second of the kernel alone.
int bench_kernel(const BenchOptions& options);
// Whole runs of each scenario: simulation events/s, runs/s, time compression, peak RSS.
int bench_e2e(const BenchOptions& options);
// Cost per event as the cluster grows (3..81 nodes) and as simulated time grows (10..1000 s).
int bench_scaling(const BenchOptions& options);
// The same failover cycle against real redis-server processes and in replsim: cycles per second.
int bench_compare(const BenchOptions& options);

}  // namespace replsim::tools
