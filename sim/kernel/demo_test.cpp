// The kernel's whole-system determinism test: many fibers, messages, disk writes, crashes, restarts,
// pauses and partitions, driven by one seed.
#include "sim/kernel/demo.h"

#include <doctest/doctest.h>

using namespace replsim::kernel;

TEST_CASE("randomized kernel workload: same seed twice => same trace hash, event for event") {
  DemoOptions o;
  o.seed = 11;
  o.keep_hash_sequence = true;
  const DemoResult a = run_demo(o);
  const DemoResult b = run_demo(o);
  CHECK(a.trace_hash == b.trace_hash);
  CHECK(a.hash_sequence == b.hash_sequence);
  CHECK(a.events == b.events);
  // The workload really did what it claims.
  CHECK(a.messages_sent > 100);
  CHECK(a.acked > 50);
  CHECK(a.disk_writes > 50);
  CHECK(a.crashes > 0);
  CHECK(a.restarts > 0);
  CHECK(a.partitions > 0);
  CHECK(a.fiber_switches > 1000);
}

TEST_CASE("different seeds give different runs") {
  DemoOptions o;
  o.seed = 1;
  const auto h1 = run_demo(o).trace_hash;
  o.seed = 2;
  const auto h2 = run_demo(o).trace_hash;
  o.seed = 3;
  const auto h3 = run_demo(o).trace_hash;
  CHECK(h1 != h2);
  CHECK(h2 != h3);
  CHECK(h1 != h3);
}

TEST_CASE("runs in one process do not leak state into each other") {
  DemoOptions o;
  o.seed = 5;
  const auto first = run_demo(o).trace_hash;
  o.seed = 6;
  (void)run_demo(o);
  o.seed = 5;
  CHECK(run_demo(o).trace_hash == first);
}

TEST_CASE("acknowledged (synced) messages survive every crash") {
  for (std::uint64_t seed = 20; seed < 30; ++seed) {
    DemoOptions o;
    o.seed = seed;
    const DemoResult r = run_demo(o);
    INFO("seed " << seed);
    CHECK(r.lost_acked.empty());
    CHECK(r.acked > 0);
  }
}
