// replicate-ok-means-sync: an OK REPLICATE must end in sync or with a visible error.
#include <doctest/doctest.h>

#include "sim/checks/replicate_ok.h"

using namespace replsim::sim;

namespace {

NodeFinal replica(bool link_up, const std::string& error) {
  NodeFinal f;
  f.node = "n1";
  f.up = true;
  f.role = "replica";
  f.link_up = link_up;
  f.sync_state = link_up ? "streaming" : "connecting";
  f.last_sync_error = error;
  return f;
}

RunFacts facts_of(NodeFinal f) {
  RunFacts facts;
  facts.finals = {std::move(f)};
  return facts;
}

const std::vector<std::string> kReplicate = {"CLUSTER", "REPLICATE", std::string(40, 'a')};

}  // namespace

TEST_CASE("replicate-ok-means-sync: a synced replica and a replica showing its error pass") {
  ReplicateTracker t;
  t.command("n1", 10, kReplicate, true);
  CHECK(t.check(facts_of(replica(true, "")), 99).empty());
  CHECK(t.check(facts_of(replica(false, "primary n0:6379 refused the sync: ERR ...")), 99).empty());
}

TEST_CASE("replicate-ok-means-sync: OK, then neither sync nor error (garnet #1116)") {
  ReplicateTracker t;
  t.command("n1", 10, kReplicate, true);
  auto v = t.check(facts_of(replica(false, "")), 99);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "replicate-ok-means-sync");
  CHECK(v[0].node == "n1");
  CHECK(v[0].evidence["replicate_at_ns"] == 10);
  CHECK(v[0].evidence["link_up"] == false);
}

TEST_CASE("replicate-ok-means-sync: OK, then the node silently runs as a primary") {
  ReplicateTracker t;
  t.command("n1", 10, kReplicate, true);
  NodeFinal f = replica(false, "");
  f.role = "primary";
  auto v = t.check(facts_of(f), 99);
  REQUIRE(v.size() == 1);
  CHECK(v[0].message.find("as a primary") != std::string::npos);
}

TEST_CASE("replicate-ok-means-sync: refused REPLICATEs and later failovers are not judged") {
  ReplicateTracker refused;
  refused.command("n1", 10, kReplicate, false);
  CHECK(refused.check(facts_of(replica(false, "")), 99).empty());
  ReplicateTracker promoted;
  promoted.command("n1", 10, {"cluster", "replicate", std::string(40, 'a')}, true);
  promoted.command("n1", 20, {"CLUSTER", "FAILOVER", "FORCE"}, true);
  NodeFinal f = replica(false, "");
  f.role = "primary";
  CHECK(promoted.check(facts_of(f), 99).empty());
}
