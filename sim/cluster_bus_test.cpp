// Tests of the cluster bus on its own (core/cluster_bus.*), with a scripted handler in place of the
// store: links exchange configs and come up both ways while idle links and connections hold no task;
// the one dispatcher keeps each connection's replies in request order, answers other connections
// while a request (or a digest ping that blocks) is being handled; forgotten peers' links end, and
// stop() ends every bus task.
#include "core/cluster_bus.h"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/resp.h"
#include "sim/kernel/network.h"
#include "sim/kernel/scheduler.h"
#include "sim/sim_env.h"

using namespace replsim;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kBusPort = 16379;

// A handler whose "config" is its own name: digests differ between nodes, so every exchange sends
// the whole configs both ways (PING and its PONG), and equal only for a node's own digest.
struct ScriptedHandler final : core::ClusterBusHandler {
  std::string id;
  std::string payload;
  std::uint64_t digest = 0;
  std::vector<core::BusPeer> peers;
  std::uint64_t peers_version = 1;
  std::map<std::string, int> digests_from;   // PINGD senders, as bus_on_digest saw them
  std::map<std::string, int> gossip_from;    // payloads received (PING or PONG)
  std::function<void(std::string_view sender)> digest_hook;  // may block
  std::function<std::string(const std::vector<std::string>&)> request_hook;  // may block

  const std::string& bus_my_id() override { return id; }
  const std::string& bus_gossip_payload() override { return payload; }
  const std::string& bus_gossip_section() override { return payload; }
  std::uint64_t bus_gossip_digest() override { return digest; }
  void bus_on_gossip(std::string_view text) override { ++gossip_from[std::string(text)]; }
  bool bus_on_digest(std::string_view sender, std::uint64_t d) override {
    ++digests_from[std::string(sender)];
    if (digest_hook) digest_hook(sender);
    return d == digest;
  }
  std::string bus_on_request(const std::vector<std::string>& argv) override {
    if (request_hook) return request_hook(argv);
    return core::encode_simple("OK");
  }
  std::vector<core::BusPeer> bus_peers() override { return peers; }
  std::uint64_t bus_peers_version() override { return peers_version; }
};

struct Node {
  kernel::NodeId id = 0;
  std::string name;
  std::unique_ptr<sim::SimEnv> env;
  ScriptedHandler handler;
  std::unique_ptr<core::ClusterBus> bus;
};

kernel::NetworkConfig fixed_latency(kernel::Nanos latency) {
  kernel::NetworkConfig config;
  config.latency.latency_min = latency;
  config.latency.latency_max = latency;
  config.latency.tail_probability = 0.0;
  return config;
}

// n nodes, each with a bus that knows every other node as a peer; buses start at time 0.
struct BusWorld {
  explicit BusWorld(int n, kernel::Nanos latency = 1ms) : net(sched, 7, fixed_latency(latency)) {
    for (int i = 0; i < n; ++i) {
      auto node = std::make_unique<Node>();
      node->name = fmt::format("n{}", i);
      node->id = sched.add_node(node->name);
      nodes.push_back(std::move(node));
    }
    for (auto& node : nodes) {
      sim::SimEnvParts parts;
      parts.sched = &sched;
      parts.net = &net;
      parts.resolve = [this](const std::string& name) { return net.find_host(name); };
      node->env = std::make_unique<sim::SimEnv>(std::move(parts), node->id, 11);
      node->handler.id = "id-" + node->name;
      node->handler.payload = "config-of-" + node->name;
      node->handler.digest = std::hash<std::string>{}(node->handler.payload);
      for (auto& other : nodes) {
        if (other != node) node->handler.peers.push_back({"id-" + other->name, other->name, kBusPort});
      }
      core::ClusterBusOptions options;
      options.gossip_interval = 100ms;
      options.node_timeout = 1000ms;
      node->bus = std::make_unique<core::ClusterBus>(*node->env, node->handler, options);
    }
    for (auto& node : nodes) {
      Node* raw = node.get();
      sched.spawn(node->id, "start", [raw] { REQUIRE(raw->bus->start(kBusPort).is_ok()); });
    }
  }
  ~BusWorld() {
    for (auto& node : nodes) {
      if (node->bus) node->bus->stop();
    }
    sched.run(sched.now() + 2s);
    // Buses (and their connections) go before the network, the network before the scheduler.
    for (auto& node : nodes) node->bus.reset();
  }
  BusWorld(const BusWorld&) = delete;
  BusWorld& operator=(const BusWorld&) = delete;

  void run_for(kernel::Nanos d) { sched.run(sched.now() + d); }
  Node& node(int i) { return *nodes[static_cast<std::size_t>(i)]; }

  kernel::Trace trace;
  kernel::Scheduler sched{trace};
  kernel::Network net;
  std::vector<std::unique_ptr<Node>> nodes;
};

// A raw client connection to a node's bus: sends requests (pipelined if asked) and reads replies.
struct RawClient {
  std::unique_ptr<core::Connection> conn;
  core::RespReplyParser parser;

  void send(const std::vector<std::string>& argv) { REQUIRE(conn->send(core::encode_command(argv)).is_ok()); }
  core::RespValue reply(core::Nanos timeout) {
    for (;;) {
      if (auto value = parser.next()) return std::move(*value);
      auto data = conn->recv(4096, timeout);
      REQUIRE_MESSAGE(data.is_ok(), data.status().to_string());
      parser.feed(data.value());
    }
  }
};

std::string digest_hex_of(std::uint64_t digest) { return fmt::format("{:016x}", digest); }

}  // namespace

TEST_CASE("links exchange configs and come up both ways; idle links and connections hold no task") {
  constexpr int kNodes = 6;
  BusWorld w(kNodes);
  // With a task per link and per accepted connection, the buses alone would hold 2 + 2(n-1) tasks
  // per node, all the time.
  std::size_t settled_max_tasks = 0;
  std::size_t settled_task_sum = 0;
  std::size_t samples = 0;
  std::function<void()> sample = [&] {
    if (w.sched.now() >= kernel::SimTime(3s)) {
      settled_max_tasks = std::max(settled_max_tasks, w.sched.task_count());
      settled_task_sum += w.sched.task_count();
      ++samples;
    }
    if (w.sched.now() < kernel::SimTime(6s)) w.sched.after(1ms, sample);
  };
  w.sched.after(1ms, sample);
  w.run_for(6s);
  for (int i = 0; i < kNodes; ++i) {
    Node& me = w.node(i);
    for (int j = 0; j < kNodes; ++j) {
      if (j == i) continue;
      Node& other = w.node(j);
      INFO(me.name << " -> " << other.name);
      CHECK(me.bus->link_up(other.handler.id));
      // The configs differ, so exchanges carry them both ways.
      CHECK(me.handler.gossip_from[other.handler.payload] > 0);
    }
    CHECK(me.bus->messages_sent() > 0);
    CHECK(me.bus->messages_received() > 0);
  }
  REQUIRE(samples > 0);
  const double mean_tasks = static_cast<double>(settled_task_sum) / static_cast<double>(samples);
  INFO("live tasks after settling: max " << settled_max_tasks << ", mean " << mean_tasks);
  // Three long-lived bus tasks per node (accept, link manager, dispatcher), at most one exchange in
  // flight per link, and on average few: an exchange lasts a round trip every half node timeout.
  CHECK(settled_max_tasks >= 3 * kNodes);
  CHECK(settled_max_tasks <= 3 * kNodes + kNodes * (kNodes - 1));
  CHECK(mean_tasks < 3 * kNodes + 3);
}

TEST_CASE("the dispatcher keeps replies in request order and serves others while a request blocks") {
  BusWorld w(2);
  Node& server = w.node(1);
  Node& client_node = w.node(0);
  const std::string same = digest_hex_of(server.handler.digest);
  std::vector<std::string> events;  // what the clients saw, in order of time
  // A failover-style request that blocks for 50 ms; a digest ping from "slow" blocks for 100 ms.
  server.handler.request_hook = [&](const std::vector<std::string>& argv) {
    server.env->sleep_for(50ms);
    return core::encode_simple("DONE-" + argv[1]);
  };
  server.handler.digest_hook = [&](std::string_view sender) {
    if (sender == "slow") server.env->sleep_for(100ms);
  };
  auto open = [&] {
    auto conn = client_node.env->connect(server.name, kBusPort, 1s);
    REQUIRE(conn.is_ok());
    RawClient c;
    c.conn = std::move(conn.value());
    return c;
  };
  std::size_t handovers = 0;
  w.trace.set_sink([&](const kernel::TraceEvent& e) { handovers += e.kind == "bus.serve.handover" ? 1 : 0; });
  w.run_for(1s);  // the buses are up
  auto at_ms = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(w.sched.now().time_since_epoch()).count(); };
  std::int64_t start_ms = 0;
  client_node.env->spawn("pipelined", [&] {
    RawClient c = open();
    start_ms = at_ms();
    // A request for a worker, then a digest ping, then a digest ping that blocks, then another.
    c.send({"FAILOVER-TEST", "a"});
    c.send({"PINGD", "fast-1", same});
    c.send({"PINGD", "slow", same});
    c.send({"PINGD", "fast-2", "0000000000000000"});
    for (const char* expect : {"DONE-a", "SAME", "SAME", "DIFF"}) {
      const core::RespValue v = c.reply(2s);
      CHECK(v.type == core::RespValue::Type::simple);
      CHECK(v.text == expect);
      events.push_back(fmt::format("pipelined {} at +{}ms", v.text, at_ms() - start_ms));
    }
  });
  client_node.env->spawn("other", [&] {
    RawClient c = open();
    client_node.env->sleep_for(20ms);  // the worker is busy with FAILOVER-TEST meanwhile
    c.send({"PINGD", "other-1", same});
    CHECK(c.reply(2s).text == "SAME");
    events.push_back(fmt::format("other-1 at +{}ms", at_ms() - start_ms));
    client_node.env->sleep_for(80ms);  // the dispatcher is blocked in "slow" meanwhile
    c.send({"PINGD", "other-2", same});
    CHECK(c.reply(2s).text == "SAME");
    events.push_back(fmt::format("other-2 at +{}ms", at_ms() - start_ms));
  });
  w.run_for(2s);
  INFO(fmt::format("{}", fmt::join(events, "; ")));
  REQUIRE(events.size() == 6);
  // other-1 is answered while the worker handles FAILOVER-TEST (50 ms), other-2 while "slow" blocks
  // (from ~50 ms to ~150 ms): neither waits for them.
  CHECK(events[0].rfind("other-1 at +2", 0) == 0);  // sent at +20 ms, 1 ms each way
  CHECK(events[1].rfind("pipelined DONE-a", 0) == 0);
  CHECK(events[2].rfind("pipelined SAME", 0) == 0);
  CHECK(events[3].rfind("other-2 at +1", 0) == 0);  // sent at ~+100 ms, before "slow" ends
  CHECK(events[4].rfind("pipelined SAME", 0) == 0);
  CHECK(events[5].rfind("pipelined DIFF", 0) == 0);
  CHECK(handovers == 1);  // other-2 arrived while the dispatcher was blocked in "slow"
  w.trace.set_sink(nullptr);  // handovers goes before the world's teardown records
}

TEST_CASE("a forgotten peer's link ends; stop() ends every bus task") {
  BusWorld w(3);
  w.run_for(3s);
  Node& a = w.node(0);
  Node& b = w.node(1);
  Node& c = w.node(2);
  REQUIRE(a.bus->link_up(c.handler.id));
  // a forgets c (CLUSTER RESET-like): its link ends, so c hears no more digest pings from a, while
  // a keeps pinging b.
  a.handler.peers = {{b.handler.id, b.name, kBusPort}};
  ++a.handler.peers_version;
  a.bus->config_changed();
  w.run_for(100ms);
  CHECK_FALSE(a.bus->link_up(c.handler.id));
  const int c_heard = c.handler.digests_from[a.handler.id];
  const int b_heard = b.handler.digests_from[a.handler.id];
  w.run_for(3s);
  CHECK(c.handler.digests_from[a.handler.id] == c_heard);
  CHECK(b.handler.digests_from[a.handler.id] > b_heard);
  CHECK(a.bus->link_up(b.handler.id));

  for (auto& node : w.nodes) node->bus->stop();
  w.run_for(2s);  // the accept loops poll once a second
  CHECK(w.sched.task_count() == 0);
}

TEST_CASE("a crash while the dispatcher and a worker are blocked unwinds them; the peer's link goes down") {
  BusWorld w(2);
  Node& victim = w.node(1);
  Node& peer = w.node(0);
  std::size_t handovers = 0;
  w.trace.set_sink([&](const kernel::TraceEvent& e) { handovers += e.kind == "bus.serve.handover" ? 1 : 0; });
  bool crashed = false;
  victim.handler.request_hook = [&](const std::vector<std::string>&) {
    victim.env->sleep_for(10s);
    return core::encode_simple("LATE");
  };
  victim.handler.digest_hook = [&](std::string_view sender) {
    if (sender != "slow") return;
    // The crash comes while this task (the dispatcher) is blocked here and the worker is blocked in
    // its request: unwinding must leave no dispatcher marked as blocked, or the resets of the
    // victim's idle connections would hand over to a new dispatcher on a node that is down.
    w.sched.after(1ms, [&] {
      CHECK(handovers == 0);
      w.sched.crash_node(victim.id, "test");
      victim.bus.reset();  // as the harness drops a crashed node's store
      crashed = true;
    });
    victim.env->sleep_for(10s);
  };
  w.run_for(2s);
  REQUIRE(peer.bus->link_up(victim.handler.id));
  std::vector<core::Err> endings;
  peer.env->spawn("blocked-clients", [&] {
    std::vector<RawClient> clients(2);
    for (RawClient& c : clients) {
      auto conn = peer.env->connect(victim.name, kBusPort, 1s);
      REQUIRE(conn.is_ok());
      c.conn = std::move(conn.value());
    }
    clients[0].send({"FAILOVER-TEST", "x"});
    peer.env->sleep_for(5ms);  // the worker has it
    clients[1].send({"PINGD", "slow", digest_hex_of(victim.handler.digest)});
    for (RawClient& c : clients) endings.push_back(c.conn->recv(4096, 5s).code());
  });
  w.run_for(3s);
  REQUIRE(crashed);
  // Both clients saw their connection reset, not a reply; the peer's link is down; only the peer's
  // three bus tasks (and at most its one exchange with the victim) are left.
  CHECK(endings == std::vector<core::Err>{core::Err::reset, core::Err::reset});
  CHECK_FALSE(peer.bus->link_up(victim.handler.id));
  CHECK(w.sched.task_count() <= 4);
  CHECK(w.sched.task_count() >= 3);
  w.trace.set_sink(nullptr);
}
