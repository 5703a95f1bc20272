// Tests of the simulated network: ordered delivery, held bytes across partitions and heals, resets
// after reset_after, one-way partitions, isolation and random splits, refused and timed-out connects,
// node crashes, clogging, the buffer cap, close semantics and determinism of the trace.
#include "sim/kernel/network.h"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace replsim::kernel;
using namespace std::chrono_literals;
using replsim::core::Err;

namespace {

constexpr Port kPort = 6379;

// A scheduler and a network; members are destroyed network first, then the scheduler, which unwinds
// any leftover task (so surviving handles must cope with a network that is gone).
struct World {
  explicit World(std::uint64_t seed, NetworkConfig config = {}) : net(sched, seed, config) {}
  Trace trace;
  Scheduler sched{trace};
  Network net;

  void run_for(Nanos d) { sched.run(sched.now() + d); }
};

NetworkConfig fixed_latency(Nanos latency) {
  NetworkConfig config;
  config.latency.latency_min = latency;
  config.latency.latency_max = latency;
  config.latency.tail_probability = 0.0;
  return config;
}

// Reads until the stream ends; returns the bytes and the error that ended it.
std::pair<std::string, Err> read_all(NetConnection& conn, Nanos timeout) {
  std::string out;
  for (;;) {
    auto r = conn.recv(4096, timeout);
    if (!r) return {out, r.code()};
    out += *r;
  }
}

// Accepts connections forever; each one gets a reader task that stores what it read at EOF.
void spawn_collecting_server(World& w, Host host, std::map<std::string, std::string>& received,
                             std::vector<Err>& endings) {
  w.sched.spawn(host, "server", [&w, host, &received, &endings] {
    auto listener = w.net.listen(host, kPort);
    REQUIRE(listener);
    for (;;) {
      auto conn = (*listener)->accept(kForever);
      if (!conn) return;
      std::shared_ptr<NetConnection> shared = std::move(*conn);
      w.sched.spawn(host, "reader", [shared, &received, &endings] {
        auto [bytes, end] = read_all(*shared, kForever);
        // The first bytes name the sender ("c3;"), so results are keyed independently of ids.
        received[bytes.substr(0, bytes.find(';'))] = bytes;
        endings.push_back(end);
      });
    }
  });
}

// Connects from a client host, waiting on refused until the server listens.
std::unique_ptr<NetConnection> connect_ok(World& w, Host from, Host to) {
  auto conn = w.net.connect(from, to, kPort, 5s);
  REQUIRE_MESSAGE(conn, conn.status().to_string());
  return std::move(*conn);
}

// One connection from host `from` to a listener on host `to` at `port`, established before it
// returns (the world runs for `settle`): {the client's end, the server's end}.
std::pair<std::unique_ptr<NetConnection>, std::unique_ptr<NetConnection>> connected_pair(World& w, Host from, Host to,
                                                                                          Nanos settle,
                                                                                          Port port = kPort) {
  std::pair<std::unique_ptr<NetConnection>, std::unique_ptr<NetConnection>> ends;
  w.sched.spawn(to, "server", [&w, &ends, to, port] {
    auto listener = w.net.listen(to, port);
    REQUIRE(listener);
    auto conn = (*listener)->accept(kForever);
    REQUIRE(conn);
    ends.second = std::move(*conn);
  });
  w.sched.spawn(from, "client", [&w, &ends, from, to, port] {
    auto conn = w.net.connect(from, to, port, 5s);
    REQUIRE_MESSAGE(conn, conn.status().to_string());
    ends.first = std::move(*conn);
  });
  w.run_for(settle);
  REQUIRE(ends.first);
  REQUIRE(ends.second);
  return ends;
}

// A fixed little workload whose trace depends on the seed only through the network's draws.
std::uint64_t workload_hash(std::uint64_t seed) {
  World w(seed);
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  std::map<std::string, std::string> received;
  std::vector<Err> endings;
  spawn_collecting_server(w, a, received, endings);
  spawn_collecting_server(w, b, received, endings);
  std::vector<Host> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(w.net.add_client(fmt::format("client-{}", i)));
  for (int i = 0; i < 6; ++i) {
    const Host me = clients[static_cast<std::size_t>(i)];
    w.sched.spawn(kNoNode, "client", [&w, me, i, a, b] {
      w.sched.sleep_for(1ms);
      auto conn = connect_ok(w, me, i % 2 == 0 ? a : b);
      for (int m = 0; m < 20; ++m) REQUIRE(conn->send(fmt::format("c{};m{} ", i, m)));
    });
  }
  w.sched.at(SimTime(3ms), [&w, &clients, a] { w.net.partition({a}, {clients[0], clients[2]}); });
  w.sched.at(SimTime(500ms), [&w] { w.net.heal(); });
  w.run_for(5s);
  CHECK(received.size() == 6);
  return w.trace.hash();
}

}  // namespace

TEST_CASE("bytes arrive in order on many concurrent connections under random latencies") {
  for (std::uint64_t seed : {1ULL, 2ULL, 3ULL, 42ULL}) {
    CAPTURE(seed);
    NetworkConfig config;
    config.latency.latency_min = 0ms;
    config.latency.latency_max = 20ms;
    config.latency.tail_probability = 0.2;
    config.latency.tail_max = 100ms;
    World w(seed, config);
    std::vector<NodeId> nodes;
    for (int n = 0; n < 3; ++n) nodes.push_back(w.sched.add_node(fmt::format("n{}", n)));
    std::map<std::string, std::string> received;
    std::vector<Err> endings;
    for (NodeId n : nodes) spawn_collecting_server(w, n, received, endings);

    std::map<std::string, std::string> sent;
    Rng rng(seed, "test");
    constexpr int kClients = 24;
    for (int i = 0; i < kClients; ++i) {
      const Host me = w.net.add_client(fmt::format("client-{}", i));
      const NodeId target = nodes[rng.below(nodes.size())];
      std::string& mine = sent[fmt::format("c{}", i)];
      w.sched.spawn(kNoNode, "client", [&w, &rng, &mine, me, target, i] {
        w.sched.sleep_for(1ms);
        auto conn = connect_ok(w, me, target);
        for (int m = 0; m < 60; ++m) {
          std::string msg = m == 0 ? fmt::format("c{};", i) : fmt::format("<{}:{}>", i, m);
          msg.append(rng.below(40), static_cast<char>('a' + m % 26));
          REQUIRE(conn->send(msg));
          mine += msg;
          w.sched.sleep_for(Nanos(rng.below(200'000)));  // far below the latency spread
        }
        conn->close();
      });
    }
    w.run_for(60s);
    CHECK(received == sent);
    CHECK(endings.size() == kClients);
    for (Err e : endings) CHECK(e == Err::closed);
    CHECK(w.net.stats().established == kClients);
    CHECK(w.net.stats().sends == kClients * 60);
    CHECK(w.net.stats().bytes_delivered == w.net.stats().bytes_sent);
    CHECK(w.net.stats().resets == 0);
  }
}

TEST_CASE("bytes sent across a partition are held, then delivered in order after the heal") {
  for (std::uint64_t seed : {7ULL, 8ULL, 9ULL}) {
    CAPTURE(seed);
    World w(seed);
    const NodeId server = w.sched.add_node("server");
    const Host client = w.net.add_client("client-0");
    std::string got;
    std::vector<std::pair<Err, std::int64_t>> reads;  // (outcome, time) of each recv
    w.sched.spawn(server, "server", [&] {
      auto listener = w.net.listen(server, kPort);
      auto conn = (*listener)->accept(kForever);
      REQUIRE(conn);
      for (;;) {
        auto r = (*conn)->recv(100, 1s);
        reads.emplace_back(r.code(), w.sched.now_ns());
        if (r) got += *r;
        if (r.code() == Err::closed || r.code() == Err::reset) return;
      }
    });
    w.sched.spawn(kNoNode, "client", [&] {
      auto conn = connect_ok(w, client, server);
      REQUIRE(conn->send("before;"));
      w.sched.sleep_for(100ms);
      w.net.partition({client}, {server});
      for (int i = 0; i < 50; ++i) REQUIRE(conn->send(fmt::format("held{};", i)));
      conn->close();  // the FIN is held behind the bytes
      w.sched.sleep_for(5s);
      CHECK(got == "before;");  // nothing crossed the partition
      w.net.heal();
    });
    w.run_for(30s);
    std::string expected = "before;";
    for (int i = 0; i < 50; ++i) expected += fmt::format("held{};", i);
    CHECK(got == expected);
    REQUIRE(!reads.empty());
    CHECK(reads.back().first == Err::closed);
    // Held bytes came only after the heal at ~5.1 s.
    for (const auto& [code, t] : reads) {
      if (code == Err::none && t > 1'000'000'000) CHECK(t >= 5'100'000'000);
    }
    CHECK(w.net.stats().resets == 0);
  }
}

TEST_CASE("a direction that holds bytes for reset_after resets the connection on both sides") {
  for (std::uint64_t seed : {11ULL, 12ULL}) {
    CAPTURE(seed);
    NetworkConfig config;
    config.reset_after = 3s;
    World w(seed, config);
    const NodeId server = w.sched.add_node("server");
    const Host client = w.net.add_client("client-0");
    Err server_end = Err::none;
    std::int64_t server_end_ns = 0;
    Err client_send = Err::none;
    Err client_recv = Err::none;
    w.sched.spawn(server, "server", [&] {
      auto listener = w.net.listen(server, kPort);
      auto conn = (*listener)->accept(kForever);
      REQUIRE(conn);
      auto r = (*conn)->recv(100, kForever);
      server_end = r.code();
      server_end_ns = w.sched.now_ns();
    });
    w.sched.spawn(kNoNode, "client", [&] {
      auto conn = connect_ok(w, client, server);
      w.net.partition({server}, {client});
      REQUIRE(conn->send("lost in the partition"));
      client_recv = conn->recv(10, kForever).code();
      client_send = conn->send("more").code();
    });
    w.run_for(30s);
    CHECK(server_end == Err::reset);
    CHECK(client_recv == Err::reset);
    CHECK(client_send == Err::reset);
    CHECK(server_end_ns >= 3'000'000'000);
    CHECK(server_end_ns < 3'200'000'000);
    CHECK(w.net.stats().bytes_delivered == 0);
    CHECK(w.net.stats().resets == 1);
    CHECK(w.net.connection_ids().empty());
  }
}

TEST_CASE("a one-way partition blocks one direction only") {
  World w(5, fixed_latency(1ms));
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  std::string at_a;
  std::string at_b;
  std::unique_ptr<NetConnection> a_side;
  std::unique_ptr<NetConnection> b_side;
  w.sched.spawn(b, "server", [&] {
    auto listener = w.net.listen(b, kPort);
    auto conn = (*listener)->accept(kForever);
    REQUIRE(conn);
    b_side = std::move(*conn);
  });
  w.sched.spawn(a, "client", [&] { a_side = connect_ok(w, a, b); });
  w.run_for(100ms);
  REQUIRE(a_side);
  REQUIRE(b_side);

  w.net.partition_one_way({a}, {b});
  CHECK(w.net.is_blocked(a, b));
  CHECK_FALSE(w.net.is_blocked(b, a));
  w.sched.spawn(a, "a-talks", [&] {
    REQUIRE(a_side->send("from a"));
    auto r = a_side->recv(100, 1s);
    if (r) at_a = *r;
  });
  w.sched.spawn(b, "b-talks", [&] {
    REQUIRE(b_side->send("from b"));
    auto r = b_side->recv(100, 1s);
    CHECK(r.code() == Err::timeout);
    if (r) at_b = *r;
  });
  w.run_for(2s);
  CHECK(at_a == "from b");
  CHECK(at_b.empty());

  w.net.heal();
  w.sched.spawn(b, "b-reads", [&] {
    auto r = b_side->recv(100, 1s);
    REQUIRE(r);
    at_b = *r;
  });
  w.run_for(2s);
  CHECK(at_b == "from a");
  a_side.reset();
  b_side.reset();
}

TEST_CASE("isolating a node cuts it off while the others still talk") {
  World w(21, fixed_latency(1ms));
  const NodeId n0 = w.sched.add_node("n0");
  const NodeId n1 = w.sched.add_node("n1");
  const NodeId n2 = w.sched.add_node("n2");
  const Host client = w.net.add_client("client-0");
  std::map<std::string, std::string> received;
  std::vector<Err> endings;
  spawn_collecting_server(w, n1, received, endings);
  spawn_collecting_server(w, n2, received, endings);
  w.run_for(1ms);
  w.net.isolate(n1);
  CHECK(w.net.is_blocked(n0, n1));
  CHECK(w.net.is_blocked(n1, n2));
  CHECK(w.net.is_blocked(client, n1));
  CHECK_FALSE(w.net.is_blocked(n0, n2));
  CHECK_FALSE(w.net.is_blocked(n1, n1));

  Err to_n1 = Err::none;
  Err to_n2 = Err::none;
  w.sched.spawn(n0, "to-n1", [&] { to_n1 = w.net.connect(n0, n1, kPort, 3s).code(); });
  w.sched.spawn(n0, "to-n2", [&] {
    auto conn = w.net.connect(n0, n2, kPort, 3s);
    to_n2 = conn.code();
    if (conn) {
      REQUIRE((*conn)->send("c0;hello"));
      (*conn)->close();
    }
  });
  w.run_for(10s);
  CHECK(to_n1 == Err::timeout);
  CHECK(to_n2 == Err::none);
  CHECK(received["c0"] == "c0;hello");
}

TEST_CASE("a random split makes two non-empty groups, blocked across and open within") {
  std::set<std::vector<Host>> seen;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    World w(seed);
    for (int n = 0; n < 5; ++n) w.sched.add_node(fmt::format("n{}", n));
    Rng rng(seed, "faults");
    auto [a, b] = w.net.partition_random(rng);
    CHECK_FALSE(a.empty());
    CHECK_FALSE(b.empty());
    CHECK(a.size() + b.size() == 5);
    for (Host x : a) {
      for (Host y : b) {
        CHECK(x != y);
        CHECK(w.net.is_blocked(x, y));
        CHECK(w.net.is_blocked(y, x));
      }
      for (Host y : a) CHECK_FALSE(w.net.is_blocked(x, y));
    }
    for (Host x : b) {
      for (Host y : b) CHECK_FALSE(w.net.is_blocked(x, y));
    }
    CHECK(w.net.blocked_link_count() == 2 * a.size() * b.size());
    seen.insert(a);
    w.net.heal();
    CHECK(w.net.blocked_link_count() == 0);
  }
  CHECK(seen.size() > 3);  // the split depends on the rng
}

TEST_CASE("connecting to a down node or an unused port is refused after a round trip") {
  World w(3, fixed_latency(2ms));
  const NodeId up = w.sched.add_node("up");
  const NodeId down = w.sched.add_node("down");
  const Host client = w.net.add_client("client-0");
  w.sched.crash_node(down, "test");
  std::vector<std::pair<Err, std::int64_t>> outcomes;
  w.sched.spawn(kNoNode, "client", [&] {
    auto start = w.sched.now_ns();
    auto r1 = w.net.connect(client, down, kPort, 1s);
    outcomes.emplace_back(r1.code(), w.sched.now_ns() - start);
    start = w.sched.now_ns();
    auto r2 = w.net.connect(client, up, 1234, 1s);
    outcomes.emplace_back(r2.code(), w.sched.now_ns() - start);
    CHECK(r2.status().message().find("no listener") != std::string::npos);
  });
  w.run_for(5s);
  REQUIRE(outcomes.size() == 2);
  for (const auto& [code, took_ns] : outcomes) {
    CHECK(code == Err::refused);
    CHECK(took_ns == 4'000'000);  // one round trip
  }
  CHECK(w.net.stats().refused == 2);
}

TEST_CASE("connecting across a partition times out; a heal during the connect lets it through") {
  for (std::uint64_t seed : {31ULL, 32ULL}) {
    CAPTURE(seed);
    NetworkConfig config;
    config.syn_retry = 500ms;
    World w(seed, config);
    const NodeId server = w.sched.add_node("server");
    const Host c0 = w.net.add_client("client-0");
    const Host c1 = w.net.add_client("client-1");
    std::map<std::string, std::string> received;
    std::vector<Err> endings;
    spawn_collecting_server(w, server, received, endings);
    w.run_for(1ms);
    w.net.partition({c0, c1}, {server});
    Err first = Err::none;
    std::int64_t first_ns = 0;
    Err second = Err::none;
    w.sched.spawn(kNoNode, "c0", [&] {
      const auto start = w.sched.now_ns();
      first = w.net.connect(c0, server, kPort, 2s).code();
      first_ns = w.sched.now_ns() - start;
    });
    w.sched.spawn(kNoNode, "c1", [&] {
      auto conn = w.net.connect(c1, server, kPort, 10s);
      second = conn.code();
      if (conn) {
        REQUIRE((*conn)->send("c1;after heal"));
        (*conn)->close();
      }
    });
    w.sched.at(w.sched.now() + 3s, [&] { w.net.heal(); });
    w.run_for(20s);
    CHECK(first == Err::timeout);
    CHECK(first_ns == 2'000'000'000);
    CHECK(second == Err::none);
    CHECK(received["c1"] == "c1;after heal");
    CHECK(w.net.stats().connect_timeouts == 1);
  }
}

TEST_CASE("a crashed node's peers see reset, its waits unwind, connects to it are refused") {
  for (std::uint64_t seed : {41ULL, 42ULL, 43ULL}) {
    CAPTURE(seed);
    World w(seed);
    const NodeId victim = w.sched.add_node("victim");
    const NodeId peer = w.sched.add_node("peer");
    const Host client = w.net.add_client("client-0");
    int unwound = 0;
    struct Witness {
      int* count;
      ~Witness() { ++*count; }
    };
    // The victim accepts one connection, parks in recv on it, and keeps a second task in accept.
    w.sched.spawn(victim, "server", [&] {
      Witness witness{&unwound};
      auto listener = w.net.listen(victim, kPort);
      REQUIRE(listener);
      auto conn = (*listener)->accept(kForever);
      REQUIRE(conn);
      std::shared_ptr<NetListener> shared = std::move(*listener);
      w.sched.spawn(victim, "acceptor", [&unwound, shared] {
        Witness inner{&unwound};
        (void)shared->accept(kForever);
        FAIL("accept returned on a crashed node");
      });
      (void)(*conn)->recv(100, kForever);
      FAIL("recv returned on a crashed node");
    });
    Err peer_recv = Err::none;
    Err peer_send = Err::none;
    Err client_recv = Err::none;
    w.sched.spawn(peer, "peer", [&] {
      auto conn = connect_ok(w, peer, victim);
      peer_recv = conn->recv(100, kForever).code();
      peer_send = conn->send("anyone?").code();
    });
    // A harness-side connection to the victim's second listener port, parked in recv.
    w.sched.spawn(victim, "second-listener", [&] {
      auto listener = w.net.listen(victim, kPort + 1);
      auto conn = (*listener)->accept(kForever);
      w.sched.sleep_for(kForever);
    });
    w.sched.spawn(kNoNode, "client", [&] {
      auto conn = w.net.connect(client, victim, kPort + 1, 1s);
      REQUIRE(conn);
      client_recv = (*conn)->recv(100, kForever).code();
    });
    w.run_for(1s);
    CHECK(w.sched.task_count() == 5);  // server, acceptor, second-listener, peer, client
    w.sched.crash_node(victim, "test crash");
    w.run_for(1s);
    CHECK(unwound == 2);
    CHECK(peer_recv == Err::reset);
    CHECK(peer_send == Err::reset);
    CHECK(client_recv == Err::reset);
    CHECK(w.sched.task_count() == 0);
    CHECK(w.net.connection_ids().empty());

    Err after_crash = Err::none;
    w.sched.spawn(kNoNode, "late", [&] { after_crash = w.net.connect(client, victim, kPort, 1s).code(); });
    w.run_for(2s);
    CHECK(after_crash == Err::refused);

    // After a restart the node listens again on the same port.
    w.sched.restart_node(victim);
    std::map<std::string, std::string> received;
    std::vector<Err> endings;
    spawn_collecting_server(w, victim, received, endings);
    w.sched.spawn(kNoNode, "again", [&] {
      auto conn = connect_ok(w, client, victim);
      REQUIRE(conn->send("c9;back"));
    });
    w.run_for(2s);
    CHECK(received["c9"] == "c9;back");
  }
}

TEST_CASE("clogging a host or a link adds delay until unclogged") {
  World w(13, fixed_latency(1ms));
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  auto ends = connected_pair(w, a, b, 100ms);
  std::unique_ptr<NetConnection>& a_side = ends.first;
  std::unique_ptr<NetConnection>& b_side = ends.second;

  auto one_way_ns = [&] {
    std::int64_t took = -1;
    w.sched.spawn(a, "probe", [&] {
      const auto start = w.sched.now_ns();
      REQUIRE(a_side->send("x"));
      REQUIRE(b_side->recv(10, 10s));
      took = w.sched.now_ns() - start;
    });
    w.run_for(20s);
    return took;
  };
  CHECK(one_way_ns() == 1'000'000);
  w.net.clog_host(b, 250ms);
  CHECK(one_way_ns() == 251'000'000);
  w.net.clog_link(a, b, 100ms);
  CHECK(one_way_ns() == 351'000'000);
  w.net.unclog_host(b);
  CHECK(one_way_ns() == 101'000'000);
  w.net.unclog_all();
  CHECK(one_way_ns() == 1'000'000);
  a_side.reset();
  b_side.reset();
}

TEST_CASE("per-link latency overrides the default") {
  World w(14, fixed_latency(1ms));
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  LinkLatency slow;
  slow.latency_min = 30ms;
  slow.latency_max = 30ms;
  slow.tail_probability = 0.0;
  w.net.set_link_latency(a, b, slow);
  std::int64_t took = 0;
  std::unique_ptr<NetListener> listener = std::move(*w.net.listen(b, kPort));
  w.sched.spawn(a, "client", [&] {
    const auto start = w.sched.now_ns();
    auto conn = connect_ok(w, a, b);
    took = w.sched.now_ns() - start;
  });
  w.run_for(1s);
  CHECK(took == 60'000'000);
}

TEST_CASE("a sender that overruns the unread-bytes cap gets the connection reset") {
  NetworkConfig config = fixed_latency(1ms);
  config.buffer_cap_bytes = 1000;
  World w(15, config);
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  Err b_end = Err::none;
  std::vector<Err> sends;
  w.sched.spawn(b, "server", [&] {
    auto listener = w.net.listen(b, kPort);
    auto conn = (*listener)->accept(kForever);
    w.sched.sleep_for(1s);  // a slow reader
    b_end = (*conn)->recv(10, 1s).code();
  });
  w.sched.spawn(a, "client", [&] {
    auto conn = connect_ok(w, a, b);
    sends.push_back(conn->send(std::string(600, 'x')).code());
    w.sched.sleep_for(10ms);  // delivered, still unread: it still counts
    sends.push_back(conn->send(std::string(600, 'y')).code());
    sends.push_back(conn->send("z").code());
  });
  w.run_for(5s);
  CHECK(sends == std::vector<Err>{Err::none, Err::reset, Err::reset});
  CHECK(b_end == Err::reset);
}

TEST_CASE("close delivers end of stream after in-flight bytes; bytes to a closed end reset") {
  World w(16);
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  std::string b_read;
  Err b_end = Err::none;
  Err a_late_send = Err::none;
  Err a_recv = Err::none;
  Err a_second_send = Err::none;
  w.sched.spawn(b, "server", [&] {
    auto listener = w.net.listen(b, kPort);
    auto conn = (*listener)->accept(kForever);
    auto [bytes, end] = read_all(**conn, 5s);
    b_read = bytes;
    b_end = end;
    REQUIRE((*conn)->send("reply after the peer's FIN"));
    (*conn)->close();
    CHECK((*conn)->send("x").code() == Err::closed);
    CHECK((*conn)->recv(1, 0s).code() == Err::closed);
  });
  w.sched.spawn(a, "client", [&] {
    auto conn = connect_ok(w, a, b);
    REQUIRE(conn->send("one;"));
    REQUIRE(conn->send("two;"));
    conn->close();
  });
  w.run_for(5s);
  CHECK(b_read == "one;two;");
  CHECK(b_end == Err::closed);

  // A writer whose reader has closed learns it with a reset when its bytes arrive.
  w.sched.spawn(b, "server2", [&] {
    auto listener = w.net.listen(b, kPort + 1);
    auto conn = (*listener)->accept(kForever);
    (*conn)->close();
    w.sched.sleep_for(1s);
  });
  w.sched.spawn(a, "writer", [&] {
    auto conn = w.net.connect(a, b, kPort + 1, 1s);
    REQUIRE(conn);
    w.sched.sleep_for(100ms);
    a_late_send = (*conn)->send("into the void").code();
    a_recv = (*conn)->recv(10, 1s).code();  // the FIN came first: end of stream
    w.sched.sleep_for(100ms);
    a_second_send = (*conn)->send("more").code();
  });
  w.run_for(5s);
  CHECK(a_late_send == Err::none);
  CHECK(a_recv == Err::closed);
  CHECK(a_second_send == Err::reset);
}

TEST_CASE("operations of a crashing task return shutdown at once; handles close while unwinding") {
  World w(17);
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  std::vector<Err> from_destructor;
  struct Probe {
    World* w;
    NetConnection* conn;
    std::vector<Err>* out;
    ~Probe() {
      out->push_back(conn->recv(10, 1s).code());
      out->push_back(conn->send("x").code());
      out->push_back(w->net.connect(0, 1, kPort, 1s).code());
      out->push_back(w->net.listen(0, 9999).code());
    }
  };
  Err peer_end = Err::none;
  w.sched.spawn(b, "server", [&] {
    auto listener = w.net.listen(b, kPort);
    auto conn = (*listener)->accept(kForever);
    peer_end = (*conn)->recv(10, kForever).code();
  });
  w.sched.spawn(a, "client", [&] {
    auto conn = connect_ok(w, a, b);
    Probe probe{&w, conn.get(), &from_destructor};
    w.sched.sleep_for(kForever);
  });
  w.run_for(1s);
  w.sched.crash_node(a, "test");
  w.run_for(1s);
  CHECK(from_destructor ==
        std::vector<Err>{Err::shutdown, Err::shutdown, Err::shutdown, Err::shutdown});
  CHECK(peer_end == Err::reset);
}

TEST_CASE("handles, listeners and reset faults: ids, limits, inspection") {
  World w(18, fixed_latency(1ms));
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  auto listener = w.net.listen(b, kPort);
  REQUIRE(listener);
  CHECK(w.net.listen(b, kPort).code() == Err::invalid);  // port in use
  std::vector<std::unique_ptr<NetConnection>> clients;
  std::vector<std::unique_ptr<NetConnection>> servers;
  w.sched.spawn(a, "client", [&] {
    for (int i = 0; i < 3; ++i) clients.push_back(connect_ok(w, a, b));
    for (int i = 0; i < 3; ++i) {
      auto conn = (*listener)->accept(0s);
      REQUIRE(conn);
      servers.push_back(std::move(*conn));
    }
    CHECK((*listener)->accept(0s).code() == Err::timeout);
  });
  w.run_for(1s);
  REQUIRE(clients.size() == 3);
  CHECK(clients[0]->id() == 1);
  CHECK(clients[2]->id() == 3);
  CHECK(servers[1]->id() == clients[1]->id());
  CHECK(clients[0]->peer() == "b:6379");
  CHECK(servers[0]->peer() == clients[0]->local());
  CHECK(w.net.connection_ids() == std::vector<ConnId>{1, 2, 3});
  CHECK(w.net.connections_of(a).size() == 3);
  CHECK(w.net.find_host("b") == std::optional<Host>(b));
  CHECK_FALSE(w.net.find_host("nowhere").has_value());

  CHECK(w.net.reset_connection(2));
  CHECK_FALSE(w.net.reset_connection(2));
  CHECK(clients[1]->send("x").code() == Err::reset);
  CHECK(servers[1]->recv(1, 0s).code() == Err::reset);
  CHECK(w.net.reset_host_connections(a) == 2);
  CHECK(w.net.connection_ids().empty());

  // Closing the listener refuses later connects; unaccepted connections are reset.
  (*listener)->close();
  Err late = Err::none;
  w.sched.spawn(a, "late", [&] { late = w.net.connect(a, b, kPort, 1s).code(); });
  w.run_for(1s);
  CHECK(late == Err::refused);
  CHECK(w.net.listen(b, kPort));  // the port is free again
}

TEST_CASE("a handle that outlives the network fails with closed instead of touching it") {
  std::unique_ptr<NetConnection> survivor;
  std::unique_ptr<NetListener> listener_survivor;
  {
    World w(19);
    const NodeId a = w.sched.add_node("a");
    const NodeId b = w.sched.add_node("b");
    listener_survivor = std::move(*w.net.listen(b, kPort));
    w.sched.spawn(a, "client", [&] { survivor = connect_ok(w, a, b); });
    w.run_for(1s);
    REQUIRE(survivor);
  }
  CHECK(survivor->send("x").code() == Err::closed);
  CHECK(survivor->recv(1, 0s).code() == Err::closed);
  CHECK(listener_survivor->accept(0s).code() == Err::closed);
  survivor.reset();
  listener_survivor.reset();
}

TEST_CASE("same seed gives the same trace hash; different seeds differ") {
  const std::uint64_t h1 = workload_hash(100);
  const std::uint64_t h2 = workload_hash(100);
  const std::uint64_t h3 = workload_hash(101);
  const std::uint64_t h4 = workload_hash(102);
  CHECK(h1 == h2);
  CHECK(h1 != h3);
  CHECK(h1 != h4);
  CHECK(h3 != h4);
}

// The readiness callback (what a task serving many connections waits on instead of a parked recv):
// it fires when a parked recv would wake — delivery (after the latency, not before), the peer's
// close, a reset, a local close — and at once when set on a readable end; a zero-timeout recv never
// parks; destroying the handle drops the callback.
TEST_CASE("the readiness callback fires on delivery, end of stream, reset and close; zero-timeout recv") {
  World w(21, fixed_latency(10ms));
  const NodeId a = w.sched.add_node("a");
  const NodeId b = w.sched.add_node("b");
  auto ends = connected_pair(w, a, b, 1s);
  std::unique_ptr<NetConnection>& client = ends.first;
  std::unique_ptr<NetConnection>& server = ends.second;
  w.sched.spawn(b, "poll", [&] {
    // Nothing buffered: a zero timeout returns at once, inside a task too.
    const SimTime before = w.sched.now();
    CHECK(server->recv(16, 0s).code() == Err::timeout);
    CHECK(w.sched.now() == before);
  });
  w.run_for(1ms);

  std::vector<std::int64_t> calls_ns;  // when the server's callback ran
  server->set_on_readable([&] { calls_ns.push_back(w.sched.now_ns()); });
  CHECK(calls_ns.empty());  // nothing to read yet

  // Delivery: one call when the bytes arrive, 10 ms after the send, not before.
  const std::int64_t sent_ns = w.sched.now_ns();
  REQUIRE(client->send("hello"));
  w.run_for(9ms);
  CHECK(calls_ns.empty());
  w.run_for(2ms);
  REQUIRE(calls_ns.size() == 1);
  CHECK(calls_ns[0] == sent_ns + std::chrono::nanoseconds(10ms).count());

  // Set on an end that holds unread bytes: called at once, from set_on_readable.
  std::vector<std::int64_t> again_ns;
  server->set_on_readable([&] { again_ns.push_back(w.sched.now_ns()); });
  CHECK(again_ns.size() == 1);
  CHECK(calls_ns.size() == 1);  // replaced: the old callback is not called any more
  auto got = server->recv(16, 0s);  // zero timeout, outside any task
  REQUIRE(got);
  CHECK(*got == "hello");
  CHECK(server->recv(16, 0s).code() == Err::timeout);

  // The peer's close: called when its end of stream arrives; recv then reports it.
  client->close();
  w.run_for(9ms);
  CHECK(again_ns.size() == 1);
  w.run_for(2ms);
  CHECK(again_ns.size() == 2);
  CHECK(server->recv(16, 0s).code() == Err::closed);

  // A reset: called at once, on both ends that have a callback.
  auto [c2, s2] = connected_pair(w, a, b, 1s, kPort + 1);
  int s2_calls = 0;
  int c2_calls = 0;
  s2->set_on_readable([&] { ++s2_calls; });
  c2->set_on_readable([&] { ++c2_calls; });
  CHECK(s2_calls == 0);
  CHECK(w.net.reset_connection(s2->id(), "test"));
  CHECK(s2_calls == 1);
  CHECK(c2_calls == 1);
  CHECK(s2->recv(16, 0s).code() == Err::reset);

  // A local close calls this end's callback; destroying a handle does not.
  auto [c3, s3] = connected_pair(w, a, b, 1s, kPort + 2);
  int s3_calls = 0;
  int c3_calls = 0;
  s3->set_on_readable([&] { ++s3_calls; });
  c3->set_on_readable([&] { ++c3_calls; });
  s3->close();
  CHECK(s3_calls == 1);
  CHECK(s3->recv(16, 0s).code() == Err::closed);
  c3.reset();  // released, not closed by a caller: its callback stays silent
  CHECK(c3_calls == 0);
  w.run_for(1s);
  CHECK(s3_calls == 1);  // the peer's end of stream reaches a closed end: nothing more to read
}
