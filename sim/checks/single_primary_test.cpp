// single-primary-per-slot: nodes agreeing on one config with one primary per slot pass; two claimants,
// disagreeing configs and a persisted role that differs from the config fail.
#include <doctest/doctest.h>

#include "sim/checks/check.h"

using namespace replsim::sim;

namespace {

const std::string kA(40, 'a');
const std::string kB(40, 'b');

// n0 (id aaa…) primary of every slot at epoch 1, n1 (id bbb…) its replica at epoch 2.
NodeFinal node(const std::string& name, const std::string& id, const std::string& role) {
  NodeFinal f;
  f.node = name;
  f.cluster = "c0";
  f.up = true;
  f.role = role;
  f.persisted_role = role;
  f.node_id = id;
  f.config = {{kA, "n0", 1, "primary", ""}, {kB, "n1", 2, "replica", kA}};
  f.slot_owners = {{0, 16383, kA}};
  return f;
}

RunFacts facts_of(std::vector<NodeFinal> finals) {
  RunFacts f;
  f.finals = std::move(finals);
  return f;
}

}  // namespace

TEST_CASE("single-primary-per-slot: one agreed config passes") {
  CHECK(check_single_primary_per_slot(facts_of({node("n0", kA, "primary"), node("n1", kB, "replica")}), 1).empty());
}

TEST_CASE("single-primary-per-slot: a restarted node on a stale config (garnet #1044)") {
  // n1 failed over (epoch 3, owns every slot); n0 came back from its old nodes.conf and still
  // believes it is the primary.
  NodeFinal n1 = node("n1", kB, "primary");
  n1.config = {{kA, "n0", 1, "primary", ""}, {kB, "n1", 3, "primary", ""}};
  n1.slot_owners = {{0, 16383, kB}};
  NodeFinal n0 = node("n0", kA, "primary");
  auto v = check_single_primary_per_slot(facts_of({n0, n1}), 1);
  REQUIRE(v.size() >= 2);
  bool disagreement = false;
  bool two_primaries = false;
  for (const Violation& x : v) {
    CHECK(x.check == "single-primary-per-slot");
    if (x.message.find("different cluster configs") != std::string::npos) {
      disagreement = true;
      CHECK(x.evidence["difference"].contains("n0"));
    }
    if (x.message.find("2 primaries") != std::string::npos) {
      two_primaries = true;
      CHECK(x.evidence["slots"][0] == 0);
      CHECK(x.evidence["slots"][1] == 16383);
    }
  }
  CHECK(disagreement);
  CHECK(two_primaries);
}

TEST_CASE("single-primary-per-slot: nodes.conf holds another role than the node runs with") {
  NodeFinal n1 = node("n1", kB, "replica");
  n1.persisted_role = "primary";
  auto v = check_single_primary_per_slot(facts_of({node("n0", kA, "primary"), n1}), 1);
  REQUIRE(v.size() == 1);
  CHECK(v[0].node == "n1");
  CHECK(v[0].evidence["persisted_role"] == "primary");
  CHECK(v[0].evidence["config_role"] == "replica");
}

TEST_CASE("single-primary-per-slot: slots owned by a node the config calls a replica") {
  NodeFinal n0 = node("n0", kA, "primary");
  NodeFinal n1 = node("n1", kB, "replica");
  for (NodeFinal* f : {&n0, &n1}) f->slot_owners = {{0, 100, kB}};
  auto v = check_single_primary_per_slot(facts_of({n0, n1}), 1);
  REQUIRE(v.size() == 1);
  CHECK(v[0].message.find("a replica") != std::string::npos);
  CHECK(v[0].evidence["owner"] == kB);
}

TEST_CASE("single-primary-per-slot: nodes of different clusters are not compared") {
  NodeFinal other = node("m0", kB, "primary");
  other.cluster = "c1";
  other.config = {{kB, "m0", 1, "primary", ""}};
  other.slot_owners = {{0, 16383, kB}};
  CHECK(check_single_primary_per_slot(facts_of({node("n0", kA, "primary"), other}), 1).empty());
}
