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
  t.command("n1", 10, kReplicate, AdminOutcome::ok);
  CHECK(t.check(facts_of(replica(true, "")), 99).empty());
  CHECK(t.check(facts_of(replica(false, "primary n0:6379 refused the sync: ERR ...")), 99).empty());
}

TEST_CASE("replicate-ok-means-sync: OK, then neither sync nor error (garnet #1116)") {
  ReplicateTracker t;
  t.command("n1", 10, kReplicate, AdminOutcome::ok);
  auto v = t.check(facts_of(replica(false, "")), 99);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "replicate-ok-means-sync");
  CHECK(v[0].node == "n1");
  CHECK(v[0].evidence["replicate_at_ns"] == 10);
  CHECK(v[0].evidence["link_up"] == false);
}

TEST_CASE("replicate-ok-means-sync: OK, then the node silently runs as a primary") {
  ReplicateTracker t;
  t.command("n1", 10, kReplicate, AdminOutcome::ok);
  NodeFinal f = replica(false, "");
  f.role = "primary";
  auto v = t.check(facts_of(f), 99);
  REQUIRE(v.size() == 1);
  CHECK(v[0].message.find("as a primary") != std::string::npos);
}

TEST_CASE("replicate-ok-means-sync: refused REPLICATEs and later failovers are not judged") {
  ReplicateTracker refused;
  refused.command("n1", 10, kReplicate, AdminOutcome::refused);
  CHECK(refused.check(facts_of(replica(false, "")), 99).empty());
  ReplicateTracker promoted;
  promoted.command("n1", 10, {"cluster", "replicate", std::string(40, 'a')}, AdminOutcome::ok);
  promoted.command("n1", 20, {"CLUSTER", "FAILOVER", "FORCE"}, AdminOutcome::ok);
  NodeFinal f = replica(false, "");
  f.role = "primary";
  CHECK(promoted.check(facts_of(f), 99).empty());
}

TEST_CASE("replicate-ok-means-sync: a failover with no reply may have happened; a refused one did not") {
  NodeFinal primary = replica(false, "");
  primary.role = "primary";
  // The operator's FAILOVER FORCE reached the node, which took over and died before it answered
  // (cluster-failover seed 2737): the REPLICATE before it no longer binds.
  ReplicateTracker unanswered;
  unanswered.command("n1", 10, kReplicate, AdminOutcome::ok);
  unanswered.command("n1", 20, {"CLUSTER", "FAILOVER", "FORCE"}, AdminOutcome::unknown);
  CHECK(unanswered.check(facts_of(primary), 99).empty());
  // An error reply means the failover did not happen: the node must still be a synced replica.
  ReplicateTracker refused;
  refused.command("n1", 10, kReplicate, AdminOutcome::ok);
  refused.command("n1", 20, {"CLUSTER", "FAILOVER", "FORCE"}, AdminOutcome::refused);
  CHECK(refused.check(facts_of(primary), 99).size() == 1);
  // A REPLICATE with no reply may have pointed the node elsewhere: the earlier one no longer binds.
  ReplicateTracker moved;
  moved.command("n1", 10, kReplicate, AdminOutcome::ok);
  moved.command("n1", 20, {"CLUSTER", "REPLICATE", std::string(40, 'b')}, AdminOutcome::unknown);
  CHECK(moved.check(facts_of(replica(false, "")), 99).empty());
  // Commands that change no role are ignored whatever their outcome.
  ReplicateTracker info;
  info.command("n1", 10, kReplicate, AdminOutcome::ok);
  info.command("n1", 20, {"CLUSTER", "NODES"}, AdminOutcome::unknown);
  CHECK(info.check(facts_of(replica(false, "")), 99).size() == 1);
}
