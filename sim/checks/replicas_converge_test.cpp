// replicas-converge: a replica level with its primary passes; one behind, with another keyspace, or
// with a different record at the same address fails with both sides in the evidence.
#include <doctest/doctest.h>

#include "sim/checks/check.h"

using namespace replsim::sim;

namespace {

NodeFinal node(const std::string& name, const std::string& role, const std::string& primary) {
  NodeFinal f;
  f.node = name;
  f.cluster = "c0";
  f.up = true;
  f.role = role;
  f.primary = primary;
  f.digest = 0xabc;
  f.aof_begin = 0;
  f.aof_tail = 96;
  f.last_decree = 3;
  f.aof_records = {{0, 32, 1, 11}, {32, 64, 2, 22}, {64, 96, 3, 33}};
  return f;
}

RunFacts facts_of(std::vector<NodeFinal> finals) {
  RunFacts f;
  f.finals = std::move(finals);
  return f;
}

}  // namespace

TEST_CASE("replicas-converge: a replica level with its primary passes, also when it kept less AOF") {
  NodeFinal p = node("n0", "primary", "");
  NodeFinal r = node("n1", "replica", "n0");
  r.aof_begin = 32;  // a checkpoint let it truncate the first record
  r.aof_records.erase(r.aof_records.begin());
  CHECK(check_replicas_converge(facts_of({p, r}), 5).empty());
  // A checkpoint was still removing the replica's old segments when the run ended: its files begin
  // above its begin address; only what both files hold is compared.
  NodeFinal mid = node("n1", "replica", "n0");
  mid.aof_records.erase(mid.aof_records.begin(), mid.aof_records.begin() + 2);
  CHECK(check_replicas_converge(facts_of({p, mid}), 5).empty());
}

TEST_CASE("replicas-converge: a replica behind its primary") {
  NodeFinal p = node("n0", "primary", "");
  NodeFinal r = node("n1", "replica", "n0");
  r.aof_tail = 64;
  r.last_decree = 2;
  r.aof_records.pop_back();
  auto v = check_replicas_converge(facts_of({p, r}), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].check == "replicas-converge");
  CHECK(v[0].node == "n1");
  CHECK(v[0].message.find("address 64") != std::string::npos);
  CHECK(v[0].evidence["primary"]["aof_tail"] == 96);
  CHECK(v[0].evidence["replica"]["aof_tail"] == 64);
}

TEST_CASE("replicas-converge: equal tails, another keyspace (kvrocks #2214: a skipped update)") {
  NodeFinal p = node("n0", "primary", "");
  NodeFinal r = node("n1", "replica", "n0");
  r.digest = 0xdef;
  auto v = check_replicas_converge(facts_of({p, r}), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].message.find("digest") != std::string::npos);
  CHECK(v[0].evidence["replica"]["digest"] == "0000000000000def");
}

TEST_CASE("replicas-converge: a different record at the same address") {
  NodeFinal p = node("n0", "primary", "");
  NodeFinal r = node("n1", "replica", "n0");
  r.aof_records[1].payload_hash = 99;  // same address and decree, other bytes
  auto v = check_replicas_converge(facts_of({p, r}), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["first_difference"]["address"] == 32);
  CHECK(v[0].message.find("address 32") != std::string::npos);
}

TEST_CASE("replicas-converge: records at other addresses (a replica that wrote locally)") {
  NodeFinal p = node("n0", "primary", "");
  NodeFinal r = node("n1", "replica", "n0");
  r.aof_records = {{0, 40, 1, 11}, {40, 64, 2, 22}, {64, 96, 3, 33}};
  auto v = check_replicas_converge(facts_of({p, r}), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["first_difference"]["address"] == 0);
}

TEST_CASE("replicas-converge: a replica whose primary is down") {
  NodeFinal p = node("n0", "primary", "");
  p.up = false;
  NodeFinal r = node("n1", "replica", "n0");
  auto v = check_replicas_converge(facts_of({p, r}), 5);
  REQUIRE(v.size() == 1);
  CHECK(v[0].evidence["primary_up"] == false);
}
