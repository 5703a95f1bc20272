// sim/known_bugs_test.cpp — each known-bug switch (core/known_bugs.h) brings back its incident's
// symptom under the same scripted steps that the fixed store passes in sim/replication_test.cpp.
// The scenario-level proof (the harness's checks catch each switch) is in scenarios/incidents/.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "core/known_bugs.h"
#include "core/resp.h"
#include "core/store.h"
#include "sim/testing/cluster_harness.h"

namespace replsim::sim::testing {
namespace {

using core::RespValue;
using namespace std::chrono_literals;

RespValue ok() { return RespValue::simple("OK"); }

core::StoreConfig with_bug(std::string_view name, core::StoreConfig c = cluster_store_config()) {
  REQUIRE(core::enable_known_bug(c.known_bugs, name).is_ok());
  return c;
}

TEST_CASE("the catalogue: names, lookups, and every switch off by default") {
  const core::KnownBugs none;
  CHECK_FALSE(none.any());
  CHECK(core::enabled_known_bugs(none).empty());
  for (const core::KnownBugInfo& b : core::known_bug_catalogue()) {
    core::KnownBugs one;
    REQUIRE(core::enable_known_bug(one, b.name).is_ok());
    CHECK(one.any());
    CHECK(core::enabled_known_bugs(one) == std::vector<std::string>{std::string(b.name)});
    CHECK_FALSE(b.check.empty());
    CHECK_FALSE(b.incident.empty());
  }
  core::KnownBugs bugs;
  const core::Status st = core::enable_known_bug(bugs, "no-such-bug");
  CHECK(st.code() == core::Err::invalid);
  CHECK(st.message().find("stuck-recovering") != std::string::npos);  // names the known ones
  CHECK(core::StoreConfig{}.known_bugs == core::KnownBugs{});
}

TEST_CASE("aof-record-exceeds-page: a value larger than the page is taken, and the AOF cannot hold it") {
  for (const bool bug : {false, true}) {
    CAPTURE(bug);
    core::StoreConfig c = cluster_store_config();  // 4 KiB pages
    if (bug) c = with_bug("aof-record-exceeds-page", c);
    ClusterHarness h(1, c);
    h.start_all();
    const std::string big(6000, 'x');
    h.run([&] {
      CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}) == ok());
      CHECK(h.call(0, {"SET", "small", "1"}) == ok());
      const RespValue r = h.call(0, {"SET", "big", big});
      if (bug) {
        CHECK(r == ok());  // acknowledged...
      } else {
        CHECK(r.is_error());  // refused up front, naming the page size
        CHECK(r.text.find("aof_page_size_bytes") != std::string::npos);
      }
      CHECK(h.call(0, {"SET", "after", "2"}) == ok());
    });
    h.crash(0);
    const core::Status restarted = h.fx.restart(0);
    if (!bug) {
      REQUIRE(restarted.is_ok());
      h.run([&] { CHECK(h.call(0, {"GET", "after"}) == RespValue::bulk("2")); });
    } else if (restarted.is_ok()) {
      // ...but the reader rejects the record on recovery: it and everything after it are gone.
      h.run([&] {
        CHECK(h.store(0).keyspace().find("big") == nullptr);
        CHECK(h.store(0).keyspace().find("after") == nullptr);
      });
    } else {
      CHECK(restarted.message().find("aof") != std::string::npos);
    }
  }
}

TEST_CASE("stuck-recovering: after a failed first sync the node is a primary stuck in recovering; reads answer CLUSTERDOWN") {
  ClusterHarness h(2, with_bug("stuck-recovering"));
  h.start_all();
  h.run([&] {
    h.meet_all();
    CHECK(h.call(1, {"CLUSTER", "REPLICATE", h.id(0)}) == ok());
  });
  h.crash(0);  // N1 dies while N2's first sync is in flight
  h.run([&] {
    CHECK(h.eventually([&] { return h.store(1).role() == core::Role::master; }));
    CHECK(h.store(1).recovering());
    CHECK(h.store(1).persisted_role() == core::Role::master);
    CHECK(h.call(1, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}) == ok());
    h.sleep(5s);
    const RespValue v = h.call(1, {"GET", "k"});
    CHECK(v.is_error());
    CHECK(v.text.starts_with("CLUSTERDOWN"));
    CHECK(h.info(1)["recovering"] == "1");
  });
}

TEST_CASE("failed-attach-resets-role: the second FORCE of a reverse failover answers 'not configured as a REPLICA'") {
  ClusterHarness h(2, with_bug("failed-attach-resets-role"));
  h.start_all();
  h.run([&] {
    h.meet_all();
    CHECK(h.call(0, {"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}) == ok());
    for (int k = 0; k < 20; ++k) CHECK(h.call(0, {"SET", fmt::format("a{}", k), "v"}) == ok());
    CHECK(h.call(1, {"CLUSTER", "REPLICATE", h.id(0)}) == ok());
    CHECK(h.eventually([&] { return h.store(1).master_link_up(); }));
  });
  h.crash(0);
  h.run([&] { CHECK(h.call(1, {"CLUSTER", "FAILOVER", "FORCE"}) == ok()); });
  h.restart(0);
  h.run([&] {
    CHECK(h.eventually([&] { return h.store(0).role() == core::Role::replica && h.store(0).master_link_up(); }));
  });
  h.crash(1);
  h.run([&] {
    // The link to the dead primary fails; the failed attach makes n0 a primary of nothing, on disk.
    CHECK(h.eventually([&] { return h.store(0).persisted_role() == core::Role::master; }));
    const RespValue r = h.call(0, {"CLUSTER", "FAILOVER", "FORCE"});
    CHECK(r == RespValue::error("ERR Node is not configured as a REPLICA"));
    CHECK(h.store(0).keyspace().empty());  // and its data went before the new data came
  });
}

TEST_CASE("failover-replays-diverged-aof: a former primary keeps and serves its diverged suffix") {
  ClusterHarness h(2, with_bug("failover-replays-diverged-aof"));
  h.start_all();
  h.run([&] {
    h.one_shard(0, {1});
    for (int i = 0; i < 10; ++i) CHECK(h.call(0, {"RPUSH", "list", fmt::format("e{}", i)}).type == RespValue::Type::integer);
    CHECK(h.call(0, {"WAIT", "1", "5000"}) == RespValue::from_integer(1));
  });
  h.crash(1);
  h.run([&] {
    for (int i = 0; i < 5; ++i) CHECK(h.call(0, {"RPUSH", "list", fmt::format("d{}", i)}).type == RespValue::Type::integer);
  });
  h.crash(0);
  h.restart(1);
  h.run([&] {
    CHECK(h.call(1, {"CLUSTER", "FAILOVER", "FORCE"}) == ok());
    for (int i = 0; i < 5; ++i) CHECK(h.call(1, {"RPUSH", "list", fmt::format("f{}", i)}).type == RespValue::Type::integer);
  });
  h.restart(0);
  h.run([&] {
    CHECK(h.eventually([&] { return h.store(0).role() == core::Role::replica && h.store(0).master_link_up(); }));
    CHECK(h.store(0).replication().partial_syncs() == 1);  // continued from its own tail
    const core::Value* list = h.store(0).keyspace().find("list");
    REQUIRE(list != nullptr);
    const std::vector<std::string> got(list->list().begin(), list->list().end());
    CHECK(std::find(got.begin(), got.end(), "d0") != got.end());  // the diverged suffix survived
    CHECK(h.store(0).digest() != h.store(1).digest());
  });
}

TEST_CASE("replica-restart-writes-locally: the restarted replica skips the primary's update (a stays 100)") {
  // Incident 003's steps, as in sim/replication_test.cpp, with the switch on.
  ClusterHarness h(2, with_bug("replica-restart-writes-locally"));
  h.start_all();
  h.run([&] {
    h.one_shard(0, {1});
    CHECK(h.call(0, {"SET", "a", "100"}) == ok());
    CHECK(h.call(0, {"WAIT", "1", "5000"}) == RespValue::from_integer(1));
  });
  const std::uint64_t replica_decree = h.fx.store(1)->last_decree();
  h.crash(1);  // stop the replica
  h.run([&] {
    CHECK(h.call(0, {"SET", "a", "101"}) == ok());
    CHECK(h.call(0, {"SET", "b", "1"}) == ok());
  });
  h.restart(1);
  h.run([&] {
    CHECK(h.eventually([&] { return h.store(1).master_link_up(); }));
    CHECK(h.call(0, {"WAIT", "1", "5000"}) == RespValue::from_integer(1));
    // It wrote a record of its own at start, before it knew it was a replica...
    CHECK(h.store(1).recovery().last_decree == replica_decree + 1);
    // ...and the primary continued it after that decree: b=1 arrived, a=101 never did.
    CHECK(h.store(1).replication().partial_syncs() == 1);
    CHECK(h.store(1).replication().full_syncs() == 0);
    const core::Value* a = h.store(1).keyspace().find("a");
    const core::Value* b = h.store(1).keyspace().find("b");
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a->str() == "100");
    CHECK(b->str() == "1");
    CHECK(h.store(0).keyspace().find("a")->str() == "101");
    CHECK(h.store(1).digest() != h.store(0).digest());
    // Same tail and decree as the primary: nothing but the digest tells them apart.
    CHECK(h.store(1).aof_tail_address() == h.store(0).aof_tail_address());
    CHECK(h.store(1).last_decree() == h.store(0).last_decree());
  });
}

}  // namespace
}  // namespace replsim::sim::testing
