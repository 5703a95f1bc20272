// sim/cluster_test.cpp — cluster mode under the simulator: the CLUSTER command's replies and errors,
// slot routing (MOVED, CROSSSLOT, CLUSTERDOWN), gossip spreading nodes and slots, nodes.conf across
// crashes, and a restarted node with a stale config following the newer one.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <set>
#include <string>
#include <vector>

#include "core/cluster_config.h"
#include "core/resp.h"
#include "core/store.h"
#include "sim/testing/cluster_harness.h"

namespace replsim::sim::testing {
namespace {

using core::RespValue;
using namespace std::chrono_literals;

RespValue ok() { return RespValue::simple("OK"); }
RespValue err(std::string text) { return RespValue::error(std::move(text)); }

TEST_CASE("CLUSTER on one node: ids, slots, routing and Redis's errors") {
  ClusterHarness h(1);
  h.start_all();
  h.run([&] {
    const RespValue myid = h.call(0, {"CLUSTER", "MYID"});
    CHECK(myid.type == RespValue::Type::bulk);
    CHECK(core::is_node_id(myid.text));
    CHECK(h.call(0, {"CLUSTER", "KEYSLOT", "foo"}) == RespValue::from_integer(12182));
    CHECK(h.call(0, {"CLUSTER", "KEYSLOT", "{foo}bar"}) == RespValue::from_integer(12182));
    // No slots yet: nothing is served.
    CHECK(h.call(0, {"GET", "foo"}) == err("CLUSTERDOWN Hash slot not served"));
    CHECK(h.call(0, {"PING"}) == RespValue::simple("PONG"));
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}) == ok());
    CHECK(h.call(0, {"SET", "foo", "1"}) == ok());
    CHECK(h.call(0, {"GET", "foo"}) == RespValue::bulk("1"));
    CHECK(h.call(0, {"CLUSTER", "COUNTKEYSINSLOT", "12182"}) == RespValue::from_integer(1));
    CHECK(h.call(0, {"DEL", "foo", "bar"}) == err("CROSSSLOT Keys in request don't hash to the same slot"));
    CHECK(h.call(0, {"DEL", "{t}a", "{t}b"}) == RespValue::from_integer(0));
    // Slot argument errors.
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTS", "5"}) == err("ERR Slot 5 is already busy"));
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTS", "16384"}) == err("ERR Invalid or out of range slot"));
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTS", "-1"}) == err("ERR Invalid or out of range slot"));
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "7", "3"}) ==
          err("ERR start slot number 7 is greater than end slot number 3"));
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "1"}) ==
          err("ERR wrong number of arguments for 'cluster|addslotsrange' command"));
    CHECK(h.call(0, {"CLUSTER", "DELSLOTS", "100", "100"}) == err("ERR Slot 100 specified multiple times"));
    CHECK(h.call(0, {"CLUSTER", "DELSLOTS", "100"}) == ok());
    CHECK(h.call(0, {"CLUSTER", "DELSLOTS", "100"}) == err("ERR Slot 100 is already unassigned"));
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTS", "100"}) == ok());
    // Node errors.
    const std::string stranger(40, 'f');
    CHECK(h.call(0, {"CLUSTER", "REPLICATE", stranger}) == err("ERR Unknown node " + stranger));
    CHECK(h.call(0, {"CLUSTER", "REPLICATE", myid.text}) == err("ERR Can't replicate myself"));
    CHECK(h.call(0, {"CLUSTER", "FAILOVER"}) == err("ERR Node is not configured as a REPLICA"));
    CHECK(h.call(0, {"CLUSTER", "FAILOVER", "FORCE"}) == err("ERR Node is not configured as a REPLICA"));
    CHECK(h.call(0, {"CLUSTER", "FAILOVER", "MAYBE"}) == err("ERR syntax error"));
    CHECK(h.call(0, {"CLUSTER", "MEET", "n9", "x"}) == err("ERR Invalid base port specified: x"));
    CHECK(h.call(0, {"CLUSTER", "NOPE"}) == err("ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."));
    CHECK(h.call(0, {"CLUSTER", "RESET"}) == err("ERR CLUSTER RESET can't be called with master nodes containing keys"));
    // Epochs.
    CHECK(h.call(0, {"CLUSTER", "SET-CONFIG-EPOCH", "-1"}) == err("ERR Invalid config epoch specified: -1"));
    CHECK(h.call(0, {"CLUSTER", "SET-CONFIG-EPOCH", "5"}) == ok());
    CHECK(h.call(0, {"CLUSTER", "SET-CONFIG-EPOCH", "6"}) == err("ERR Node config epoch is already non-zero"));
    CHECK(h.call(0, {"CLUSTER", "BUMPEPOCH"}) == RespValue::simple("STILL 5"));
    CHECK(h.store(0).config_epoch() == 5);
    // Views.
    auto info = parse_info_text(h.call(0, {"CLUSTER", "INFO"}).text);
    CHECK(info["cluster_state"] == "ok");
    CHECK(info["cluster_slots_assigned"] == "16384");
    CHECK(info["cluster_known_nodes"] == "1");
    CHECK(info["cluster_size"] == "1");
    CHECK(info["cluster_my_epoch"] == "5");
    const std::string nodes = h.call(0, {"CLUSTER", "NODES"}).text;
    CHECK(nodes == fmt::format("{} n0:6379@16379 myself,master - 0 0 5 connected 0-16383\n", myid.text));
    const RespValue slots = h.call(0, {"CLUSTER", "SLOTS"});
    REQUIRE(slots.type == RespValue::Type::array);
    REQUIRE(slots.elements.size() == 1);
    CHECK(slots.elements[0].elements[0] == RespValue::from_integer(0));
    CHECK(slots.elements[0].elements[1] == RespValue::from_integer(16383));
    CHECK(slots.elements[0].elements[2] ==
          RespValue::array({RespValue::bulk("n0"), RespValue::from_integer(6379), RespValue::bulk(myid.text)}));
    const RespValue shards = h.call(0, {"CLUSTER", "SHARDS"});
    REQUIRE(shards.type == RespValue::Type::array);
    REQUIRE(shards.elements.size() == 1);
    CHECK(shards.elements[0].elements[0] == RespValue::bulk("slots"));
    auto server = h.info(0, "server");
    CHECK(server["redis_mode"] == "cluster");
    auto cluster = h.info(0, "cluster");
    CHECK(cluster["cluster_enabled"] == "1");
    CHECK(cluster["cluster_node_id"] == myid.text);
  });
}

TEST_CASE("three primaries: MEET and gossip spread nodes and slots; MOVED names the owner") {
  ClusterHarness h(3);
  h.start_all();
  h.run([&] {
    h.meet_all();
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "0", "5460"}) == ok());
    CHECK(h.call(1, {"CLUSTER", "ADDSLOTSRANGE", "5461", "10922"}) == ok());
    CHECK(h.call(2, {"CLUSTER", "ADDSLOTSRANGE", "10923", "16383"}) == ok());
    CHECK(h.eventually([&] {
      for (std::size_t i = 0; i < 3; ++i) {
        if (h.store(i).cluster_config().assigned_slots() != 16384) return false;
      }
      return true;
    }));
    for (std::size_t i = 0; i < 3; ++i) {
      const core::ClusterConfig& c = h.store(i).cluster_config();
      CHECK(c.slot_owner(0)->host == "n0");
      CHECK(c.slot_owner(5461)->host == "n1");
      CHECK(c.slot_owner(16383)->host == "n2");
    }
    // Epoch collisions between the fresh primaries are resolved: every epoch ends up unique.
    CHECK(h.eventually([&] {
      std::set<std::uint64_t> epochs;
      for (std::size_t i = 0; i < 3; ++i) epochs.insert(h.store(i).config_epoch());
      return epochs.size() == 3;
    }));
    // "foo" hashes to 12182 (n2), "bar" to 5061 (n0).
    CHECK(h.call(0, {"SET", "foo", "1"}) == err("MOVED 12182 n2:6379"));
    CHECK(h.call(1, {"GET", "bar"}) == err("MOVED 5061 n0:6379"));
    CHECK(h.call(2, {"SET", "foo", "1"}) == ok());
    CHECK(h.call(0, {"SET", "bar", "2"}) == ok());
    const std::string nodes = h.call(1, {"CLUSTER", "NODES"}).text;
    CHECK(nodes.find("myself,master") != std::string::npos);
    CHECK(nodes.find(" 5461-10922\n") != std::string::npos);
    CHECK(nodes.find("n0:6379@16379 master") != std::string::npos);
    CHECK(h.call(1, {"CLUSTER", "SLOTS"}).elements.size() == 3);
    // DELSLOTS propagates: the owner stops claiming, the others unassign.
    CHECK(h.call(2, {"CLUSTER", "DELSLOTS", "16383"}) == ok());
    CHECK(h.eventually([&] { return h.store(0).cluster_config().slot_owner(16383) == nullptr; }));
  });
}

TEST_CASE("nodes.conf survives crashes: the same id, epoch, role, primary and slots") {
  ClusterHarness h(2);
  h.start_all();
  std::string id0;
  std::string id1;
  std::uint64_t epoch1 = 0;
  h.run([&] {
    h.one_shard(0, {1});
    id0 = h.id(0);
    id1 = h.id(1);
    epoch1 = h.store(1).config_epoch();
  });
  for (int round = 0; round < 3; ++round) {
    h.crash(0);
    h.crash(1);
    h.restart(1);
    h.restart(0);
    h.run([&] {
      CHECK(h.id(0) == id0);
      CHECK(h.id(1) == id1);
      CHECK(h.store(0).role() == core::Role::master);
      CHECK(h.store(0).slots_owned() == 16384);
      CHECK(h.store(1).role() == core::Role::replica);
      CHECK(h.store(1).persisted_role() == core::Role::replica);
      CHECK(h.store(1).primary_node_name() == "n0");
      CHECK(h.store(1).config_epoch() == epoch1);
      CHECK(h.store(1).cluster_config().slot_owner(7)->id == id0);
      CHECK(h.converged(0, 1));
      CHECK(h.call(0, {"SET", fmt::format("r{}", round), "x"}) == ok());
      CHECK(h.converged(0, 1));
    });
  }
}

TEST_CASE("a restarted node with a stale config follows the newer one it learns from gossip") {
  ClusterHarness h(3);
  h.start_all();
  h.run([&] {
    h.one_shard(0, {1, 2});
    CHECK(h.call(0, {"SET", "k", "v1"}) == ok());
    CHECK(h.call(0, {"WAIT", "2", "5000"}) == RespValue::from_integer(2));
  });
  h.crash(0);
  h.run([&] {
    CHECK(h.call(1, {"CLUSTER", "FAILOVER", "TAKEOVER"}) == ok());
    // The other replica follows the new owner of its primary's slots.
    CHECK(h.eventually([&] { return h.store(2).primary_node_name() == "n1"; }));
    CHECK(h.converged(1, 2));
    CHECK(h.call(1, {"SET", "k", "v2"}) == ok());
  });
  h.restart(0);
  h.run([&] {
    // Until it hears the cluster, the stale primary serves no keys.
    const RespValue early = h.call(0, {"GET", "k"});
    CHECK(early.is_error());
    CHECK(h.eventually([&] { return h.store(0).role() == core::Role::replica; }));
    CHECK(h.store(0).primary_node_name() == "n1");
    CHECK(h.store(0).persisted_role() == core::Role::replica);
    CHECK(h.converged(1, 0));
    CHECK(h.store(0).keyspace().find("k")->str() == "v2");
    // Every node agrees: one primary for every slot, the same epoch for it.
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(h.store(i).cluster_config().slot_owner(0)->host == "n1");
      CHECK(h.store(i).cluster_config().find(h.id(1))->config_epoch == h.store(1).config_epoch());
    }
    CHECK(h.call(0, {"GET", "k"}) == err(fmt::format("MOVED {} n1:6379", core::key_hash_slot("k"))));
  });
}

}  // namespace
}  // namespace replsim::sim::testing
