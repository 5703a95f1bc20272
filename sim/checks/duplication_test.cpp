// sim/checks/duplication_test.cpp — the duplication checks: valid-checkpoint-decrees (a decree reset to
// -1 after a restart, one above the log, a confirmed decree that goes back) and replicas-converge for a
// target against its source (equal passes; a missing, extra, different or duplicated-list key fails; a
// duplication that did not catch up fails; a paused one is not judged).
#include "sim/checks/duplication.h"

#include <doctest/doctest.h>

using namespace replsim::sim;

namespace {

DuplicationFinal dup(std::string state, std::int64_t min_cp, std::uint64_t confirmed) {
  DuplicationFinal d;
  d.id = "dup0";
  d.stream = "dup0.00000000000000aa";
  d.state = std::move(state);
  d.min_checkpoint_decree = min_cp;
  d.confirmed_decree = confirmed;
  d.shipped_decree = confirmed;
  return d;
}

NodeFinal node(const std::string& name, const std::string& cluster, const std::string& role) {
  NodeFinal f;
  f.node = name;
  f.cluster = cluster;
  f.up = true;
  f.role = role;
  f.last_decree = 10;
  f.value_hashes = {{"a", 1}, {"b", 2}, {"l", 3}};
  return f;
}

RunFacts world(NodeFinal source, NodeFinal target, NodeFinal target_replica) {
  RunFacts f;
  f.finals = {std::move(source), std::move(target), std::move(target_replica)};
  return f;
}

const std::vector<DuplicationLink> kLinks = {{"dup0", "c0", "c1"}};

}  // namespace

TEST_CASE("valid-checkpoint-decrees: min_checkpoint_decree within [1, last decree] past INIT") {
  CHECK_FALSE(check_duplication_decrees("n0", 1, dup("PREPARE", 5, 0), 5));
  CHECK_FALSE(check_duplication_decrees("n0", 1, dup("LOG", 1, 9), 9));
  CHECK_FALSE(check_duplication_decrees("n0", 1, dup("INIT", -1, 0), 0));     // INIT has none yet
  CHECK_FALSE(check_duplication_decrees("n0", 1, dup("REMOVED", -1, 0), 0));  // over
  // Reset to the invalid decree after a restart (incident 004).
  auto v = check_duplication_decrees("n0", 7, dup("PREPARE", -1, 0), 12);
  REQUIRE(v);
  CHECK(v->check == "valid-checkpoint-decrees");
  CHECK(v->node == "n0");
  CHECK(v->time_ns == 7);
  CHECK(v->message.find("min_checkpoint_decree -1") != std::string::npos);
  CHECK(v->evidence["last_decree"] == 12);
  CHECK(check_duplication_decrees("n0", 1, dup("LOG", -1, 4), 12));
  CHECK(check_duplication_decrees("n0", 1, dup("PAUSE", 0, 4), 12));
  // Above what the node ever committed.
  CHECK(check_duplication_decrees("n0", 1, dup("APP", 13, 0), 12));
  DuplicationFinal orphan = dup("PAUSE", 13, 0);
  orphan.orphaned = true;  // its node took another history as a replica: only >= 1 is asked
  CHECK_FALSE(check_duplication_decrees("n0", 1, orphan, 2));
}

TEST_CASE("valid-checkpoint-decrees online: a confirmed decree that goes back, once per duplication") {
  DuplicationDecreeMonitor m;
  m.sample("n0", 1, dup("LOG", 1, 3), 10);
  m.sample("n0", 2, dup("LOG", 1, 8), 10);
  m.sample("n1", 2, dup("LOG", 1, 1), 10);  // another node: its own history
  CHECK(m.violations().empty());
  m.sample("n0", 3, dup("LOG", 1, 5), 10);
  REQUIRE(m.violations().size() == 1);
  CHECK(m.violations()[0].message.find("went back from 8 to 5") != std::string::npos);
  CHECK(m.violations()[0].evidence["earlier_confirmed_decree"] == 8);
  m.sample("n0", 4, dup("LOG", 1, 4), 10);
  CHECK(m.violations().size() == 1);
  m.sample("n0", 5, dup("PREPARE", -1, 0), 10);
  m.sample("n0", 6, dup("PREPARE", -1, 0), 10);
  CHECK(m.violations().size() == 2);
  // A new stream (REMOVE, then ADD) starts again from 0.
  DuplicationFinal fresh = dup("LOG", 1, 0);
  fresh.stream = "dup0.00000000000000bb";
  DuplicationDecreeMonitor m2;
  m2.sample("n0", 1, dup("LOG", 1, 9), 10);
  m2.sample("n0", 2, fresh, 10);
  CHECK(m2.violations().empty());
}

TEST_CASE("valid-checkpoint-decrees final: every running node's duplications") {
  NodeFinal s = node("c0n0", "c0", "primary");
  s.duplications = {dup("LOG", 3, 10)};
  RunFacts ok = world(s, node("c1n0", "c1", "primary"), node("c1n1", "c1", "replica"));
  CHECK(check_duplication_decrees_final(ok, 9).empty());
  s.duplications = {dup("LOG", -1, 10)};
  auto v = check_duplication_decrees_final(world(s, node("c1n0", "c1", "primary"), node("c1n1", "c1", "replica")), 9);
  REQUIRE(v.size() == 1);
  CHECK(v[0].node == "c0n0");
}

TEST_CASE("replicas-converge for duplications: a target equal to its source passes") {
  NodeFinal s = node("c0n0", "c0", "primary");
  s.duplications = {dup("LOG", 3, 10)};
  NodeFinal r = node("c1n1", "c1", "replica");
  r.value_hashes.clear();  // replicas are the other check's business
  CHECK(check_duplications_converge(kLinks, world(s, node("c1n0", "c1", "primary"), r), 5).empty());
  // Two target shards together hold the source's keys.
  NodeFinal t0 = node("c1n0", "c1", "primary");
  NodeFinal t1 = node("c1n1", "c1", "primary");
  t0.value_hashes = {{"a", 1}};
  t1.value_hashes = {{"b", 2}, {"l", 3}};
  CHECK(check_duplications_converge(kLinks, world(s, t0, t1), 5).empty());
}

TEST_CASE("replicas-converge for duplications: the first differing key is named") {
  NodeFinal s = node("c0n0", "c0", "primary");
  s.duplications = {dup("LOG", 3, 10)};
  NodeFinal t = node("c1n0", "c1", "primary");
  t.value_hashes["l"] = 4;  // a list with an element twice, or one missing
  auto v = check_duplications_converge(kLinks, world(s, t, node("c1n1", "c1", "replica")), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "replicas-converge");
  CHECK(v[0].node == "c1n0");
  CHECK(v[0].evidence["key"] == "l");
  CHECK(v[0].message.find("key \"l\"") != std::string::npos);
  t = node("c1n0", "c1", "primary");
  t.value_hashes.erase("a");
  v = check_duplications_converge(kLinks, world(s, t, node("c1n1", "c1", "replica")), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["key"] == "a");
  CHECK(v[0].evidence["target"] == "absent");
  t = node("c1n0", "c1", "primary");
  t.value_hashes["zz"] = 9;  // the source deleted it, the target kept it
  v = check_duplications_converge(kLinks, world(s, t, node("c1n1", "c1", "replica")), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["source"] == "absent");
}

TEST_CASE("replicas-converge for duplications: not caught up, orphaned, missing; paused is not judged") {
  NodeFinal s = node("c0n0", "c0", "primary");
  NodeFinal t = node("c1n0", "c1", "primary");
  t.value_hashes.clear();
  NodeFinal r = node("c1n1", "c1", "replica");
  s.duplications = {dup("PREPARE", 3, 0)};
  s.duplications[0].last_error = "target c1n0:6379 requires a password";
  auto v = check_duplications_converge(kLinks, world(s, t, r), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].node == "c0n0");
  CHECK(v[0].message.find("requires a password") != std::string::npos);
  s.duplications = {dup("LOG", 3, 9)};  // one record not shipped
  CHECK(check_duplications_converge(kLinks, world(s, t, r), 5).size() == 1);
  s.duplications = {dup("PAUSE", 3, 10)};
  s.duplications[0].orphaned = true;
  CHECK(check_duplications_converge(kLinks, world(s, t, r), 5).size() == 1);
  s.duplications[0].orphaned = false;  // paused by the script: nothing promised
  CHECK(check_duplications_converge(kLinks, world(s, t, r), 5).empty());
  s.duplications.clear();
  CHECK(check_duplications_converge(kLinks, world(s, t, r), 5).size() == 1);
  s.up = false;
  v = check_duplications_converge(kLinks, world(s, t, r), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].message.find("no running primary") != std::string::npos);
}
