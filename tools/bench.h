// tools/bench.h — benchmark entry points of the replsim CLI. Each prints one `name=value` figure a
// line; benchmarks report numbers and never assert (machines are shared and noisy).
#pragma once

#include <cstdint>

namespace replsim::tools {

struct BenchOptions {
  double scale = 1.0;  // multiplies the amount of work (0.1 for a quick smoke run)
};

int bench_kernel(const BenchOptions& options);

}  // namespace replsim::tools
