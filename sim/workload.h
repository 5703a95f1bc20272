// sim/workload.h — the clients of a run: operations over strings and lists, recorded in the history.
//
// Each client is a harness task on its own client host. It draws operations from the scenario's mix
// at its rate, sends them to a random node of the target cluster (following MOVED), and records
// invoke → ok / fail / unknown. Every pushed list element and every written string value is unique
// in the run ("c<client>.<seq>"), and a push whose outcome is unknown is never re-sent, so a
// duplicate or a loss points at one operation. All choices come from per-client Rng streams.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "sim/client.h"
#include "sim/history.h"
#include "sim/kernel/network.h"
#include "sim/kernel/rng.h"
#include "sim/kernel/scheduler.h"
#include "sim/scenario.h"

namespace replsim::sim {

struct WorkloadContext {
  kernel::Scheduler* sched = nullptr;
  kernel::Network* net = nullptr;
  History* history = nullptr;
  AddressBook book;
  std::vector<std::string> nodes;   // the target cluster's nodes (entry points)
  std::string password;             // AUTH sent on each new connection when not empty
  std::int64_t aof_page_size_bytes = 64 * 1024;  // for large values given as page-size factors
  std::uint64_t seed = 0;
  // Sees every request and the reply it got (reply.node: the node that answered), for online checks.
  std::function<void(const std::vector<std::string>& argv, const ClientReply& reply)> on_reply;
};

struct WorkloadStats {
  std::uint64_t invoked = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t unknown = 0;
  std::uint64_t large_values = 0;
};

// The workload a seed runs: spec itself when it has no variants; otherwise spec with the keys of the
// variant the seed picks by weight (from Rng(seed, "workload/variant")), and no variants left.
// *variant_name (when given) gets the chosen variant's name, or "" without variants.
WorkloadSpec workload_for_seed(const WorkloadSpec& spec, std::uint64_t seed, std::string* variant_name = nullptr);

class Workload {
 public:
  using Op = WorkloadSpec::Op;

  Workload(WorkloadContext ctx, WorkloadSpec spec, std::int64_t start_ns, std::int64_t end_ns);

  // Spawns the client tasks. They stop invoking at end_ns.
  void start();
  const WorkloadStats& stats() const { return stats_; }
  // Clients still inside an operation.
  int active_clients() const { return active_; }

 private:
  void client_loop(int index);
  // Runs one operation to completion (with retries for definite failures) and records it.
  void run_op(int index, SimClient& client, kernel::Rng& rng, WorkloadSpec::Op op);
  std::string make_value(int index, kernel::Rng& rng);
  // What the client learns of a list's length from a reply (list_length_bound).
  void note_list_length(int index, std::uint64_t key_index, Op op, const ClientReply& reply);

  WorkloadContext ctx_;
  WorkloadSpec spec_;
  std::int64_t start_ns_;
  std::int64_t end_ns_;
  std::vector<std::uint64_t> next_value_;  // per client
  // Per client: the length each list had in that client's latest reply about it.
  std::vector<std::map<std::uint64_t, std::int64_t>> list_length_seen_;
  // A client's slot map, as cluster client libraries keep one: the whole map as CLUSTER SLOTS gave it
  // (fetched before the client's first operation and again after any MOVED), and per slot what later
  // replies taught (the node that answered; kUnrouted once a node failed to answer or refused the
  // slot). Unknown and unrouted slots go to a random node.
  struct SlotMap {
    static constexpr std::size_t kUnrouted = static_cast<std::size_t>(-1);
    struct Range {
      int first = 0;
      int last = 0;
      std::size_t node = 0;  // index into ctx_.nodes
    };
    bool fetched = false;
    std::vector<Range> ranges;               // sorted by first, disjoint
    std::map<int, std::size_t> learned;      // slot -> node or kUnrouted, newer than ranges
    std::optional<std::size_t> route(int slot) const;
  };
  // Asks `node` for CLUSTER SLOTS and makes it the client's map (an unanswered or unusable reply
  // leaves the map as it was).
  void refresh_slot_map(int index, SimClient& client, const std::string& node, kernel::Nanos timeout);
  std::vector<SlotMap> routes_;
  WorkloadStats stats_;
  int active_ = 0;
};

}  // namespace replsim::sim
