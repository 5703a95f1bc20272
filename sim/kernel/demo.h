// sim/kernel/demo.h — a self-contained randomized workload that exercises the whole kernel.
//
// Nodes run a tiny append-and-acknowledge service: peers send numbered messages over simulated
// connections, the receiver appends each to its disk log (syncing before it acknowledges), and a
// nemesis crashes, restarts, pauses, partitions and clogs at random. It is the kernel's determinism
// test (same seed ⇒ same trace hash) and the `replsim demo` demonstration. It also checks the one
// invariant it can: every acknowledged message is in the receiver's log after any number of crashes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/kernel/trace.h"

namespace replsim::kernel {

struct DemoOptions {
  std::uint64_t seed = 1;
  int nodes = 4;
  int senders_per_node = 2;
  int messages_per_sender = 60;
  bool faults = true;
  // Receives every trace event (e.g. to print the trace); may be empty.
  std::function<void(const TraceEvent&)> trace_sink;
  // Keep the per-event hash sequence (for determinism comparisons).
  bool keep_hash_sequence = false;
};

struct DemoResult {
  std::uint64_t trace_hash = 0;
  std::uint64_t events = 0;         // scheduler events run
  std::uint64_t trace_events = 0;   // trace records
  std::int64_t sim_ns = 0;
  std::uint64_t fiber_switches = 0;
  std::uint64_t messages_sent = 0;  // network sends
  std::uint64_t acked = 0;          // messages acknowledged to their sender
  std::uint64_t disk_writes = 0;
  std::uint64_t crashes = 0;
  std::uint64_t restarts = 0;
  std::uint64_t partitions = 0;
  std::uint64_t pauses = 0;
  // Acknowledged messages missing from their receiver's log (must be empty).
  std::vector<std::string> lost_acked;
  std::vector<std::uint64_t> hash_sequence;
};

DemoResult run_demo(const DemoOptions& options);

}  // namespace replsim::kernel
