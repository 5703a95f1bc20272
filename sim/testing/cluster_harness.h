// sim/testing/cluster_harness.h — helpers for the cluster and replication simulation tests: a
// StoreFixture of cluster-mode nodes with one RESP client per node, topology building, INFO parsing
// and waiting on conditions in simulated time.
//
// Test-only and header-only. Every client call must run inside a harness task (fx.run_task); node
// starts and restarts run the scheduler themselves, so they are called between tasks.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/resp.h"
#include "core/store.h"
#include "sim/testing/store_fixture.h"

namespace replsim::sim::testing {

using Argv = std::vector<std::string>;

inline core::StoreConfig cluster_store_config() {
  core::StoreConfig c;
  c.port = 6379;
  c.aof_page_size_bytes = 4096;
  c.aof_segment_pages = 16;
  c.appendfsync = core::FsyncPolicy::always;
  c.cluster_enabled = true;
  return c;
}

// "key:value" lines of an INFO text.
inline std::map<std::string, std::string> parse_info_text(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty() || line[0] == '#') continue;
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

class ClusterHarness {
 public:
  explicit ClusterHarness(std::size_t nodes, core::StoreConfig config = cluster_store_config(),
                          std::uint64_t seed = 1)
      : fx(FixtureConfig{seed}) {
    for (std::size_t i = 0; i < nodes; ++i) fx.add_node(config);
  }

  StoreFixture fx;

  // ---- top level (not inside a task) ----
  void start_all() {
    for (std::size_t i = 0; i < fx.node_count(); ++i) REQUIRE(fx.start(i).is_ok());
  }
  void crash(std::size_t i) {
    clients_.erase(i);
    fx.crash(i);
  }
  void restart(std::size_t i) {
    clients_.erase(i);
    const core::Status st = fx.restart(i);
    INFO(st.to_string());
    REQUIRE(st.is_ok());
  }
  // Runs fn as a harness task and requires it to finish within limit.
  void run(const std::function<void()>& fn, kernel::Nanos limit = std::chrono::seconds(300)) {
    REQUIRE(fx.run_task(fn, limit));
  }

  // ---- inside a task ----
  core::Store& store(std::size_t i) { return *fx.store(i); }
  std::string id(std::size_t i) { return fx.store(i)->node_id(); }
  std::string name(std::size_t i) const { return fmt::format("n{}", i); }

  core::RespValue call(std::size_t i, const Argv& argv) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      FixtureClient& c = client(i);
      auto r = c.call(argv, std::chrono::seconds(30));
      if (r) return r.value();
      c.close();
      if (attempt == 1) return core::RespValue::error("<no reply: " + r.status().to_string() + ">");
    }
    return core::RespValue::error("<unreachable>");
  }
  std::map<std::string, std::string> info(std::size_t i, const std::string& section = "replication") {
    const core::RespValue r = call(i, {"INFO", section});
    CHECK(r.type == core::RespValue::Type::bulk);
    return parse_info_text(r.text);
  }
  void sleep(kernel::Nanos d) { fx.sched().sleep_for(d); }
  // Polls pred every 10 ms of simulated time; false if it did not hold within limit.
  // poll: how often pred is tested; a state that lasts only milliseconds (a checkpoint on the wire)
  // needs a finer one.
  bool eventually(const std::function<bool()>& pred, kernel::Nanos limit = std::chrono::seconds(30),
                  kernel::Nanos poll = std::chrono::milliseconds(10)) {
    const std::int64_t deadline = fx.sched().now_ns() + limit.count();
    while (!pred()) {
      if (fx.sched().now_ns() >= deadline) return false;
      fx.sched().sleep_for(poll);
    }
    return true;
  }
  bool is_ok(const core::RespValue& v) { return v == core::RespValue::simple("OK"); }

  // Introduces every node to node 0 and waits until each knows all of them.
  void meet_all() {
    for (std::size_t i = 1; i < fx.node_count(); ++i) {
      CHECK(call(0, {"CLUSTER", "MEET", name(i), "6379"}) == core::RespValue::simple("OK"));
    }
    CHECK(eventually([&] {
      for (std::size_t i = 0; i < fx.node_count(); ++i) {
        if (fx.store(i) == nullptr || fx.store(i)->cluster_config().nodes().size() != fx.node_count()) return false;
      }
      return true;
    }));
  }
  // Node `primary` owns every slot; each of `replicas` replicates it and is in sync.
  void one_shard(std::size_t primary, const std::vector<std::size_t>& replicas) {
    meet_all();
    CHECK(is_ok(call(primary, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"})));
    for (std::size_t r : replicas) {
      CHECK(eventually([&] { return is_ok(call(r, {"CLUSTER", "REPLICATE", id(primary)})); }));
    }
    for (std::size_t r : replicas) CHECK(eventually([&] { return store(r).master_link_up(); }));
  }
  // Waits until replica r holds exactly what primary p holds, AOF and keyspace.
  bool converged(std::size_t p, std::size_t r, kernel::Nanos limit = std::chrono::seconds(30)) {
    return eventually(
        [&] {
          return fx.store(p) != nullptr && fx.store(r) != nullptr && store(r).master_link_up() &&
                 store(r).aof_tail_address() == store(p).aof_tail_address() &&
                 store(r).last_decree() == store(p).last_decree() && store(r).digest() == store(p).digest();
        },
        limit);
  }

 private:
  FixtureClient& client(std::size_t i) {
    auto it = clients_.find(i);
    if (it == clients_.end()) {
      it = clients_.emplace(i, std::make_unique<FixtureClient>(fx, fmt::format("client-{}-{}", i, next_client_++)))
               .first;
      it->second->set_default_node(i);
    }
    return *it->second;
  }

  std::map<std::size_t, std::unique_ptr<FixtureClient>> clients_;
  int next_client_ = 0;
};

}  // namespace replsim::sim::testing
