// no-stuck-recovering: recovering during a sync attempt is fine; recovering with no attempt in flight
// (or as a primary) past the grace, a CLUSTERDOWN from a settled slot owner, and recovering after
// liveness are violations.
#include <doctest/doctest.h>

#include "sim/checks/recovering.h"

using namespace replsim::sim;

namespace {

constexpr std::int64_t kMs = 1'000'000;

RecoveringSample sample(bool primary, bool recovering, const std::string& state) {
  return RecoveringSample{primary, recovering, state};
}

}  // namespace

TEST_CASE("no-stuck-recovering: recovering while the sync attempt runs is fine, however long") {
  RecoveringMonitor m(1000 * kMs, 3000 * kMs);
  for (std::int64_t t = 0; t < 10'000; t += 100) m.sample("n1", t * kMs, sample(false, true, "transfer"));
  m.sample("n1", 10'000 * kMs, sample(false, false, "streaming"));
  CHECK(m.violations().empty());
}

TEST_CASE("no-stuck-recovering: a primary left recovering after a failed sync (garnet #226)") {
  RecoveringMonitor m(1000 * kMs, 3000 * kMs);
  m.sample("n1", 0, sample(false, true, "connecting"));
  for (std::int64_t t = 100; t <= 1200; t += 100) m.sample("n1", t * kMs, sample(true, true, "none"));
  REQUIRE(m.violations().size() == 1);
  const Violation& v = m.violations()[0];
  CHECK(v.check == "no-stuck-recovering");
  CHECK(v.node == "n1");
  CHECK(v.evidence["role"] == "primary");
  CHECK(v.evidence["since_ns"] == 100 * kMs);
  // Reported once per episode.
  m.sample("n1", 5000 * kMs, sample(true, true, "none"));
  CHECK(m.violations().size() == 1);
}

TEST_CASE("no-stuck-recovering: a blip shorter than the grace, or a node that went down, is not reported") {
  RecoveringMonitor m(1000 * kMs, 3000 * kMs);
  m.sample("n1", 0, sample(false, true, "retrying"));
  m.sample("n1", 500 * kMs, sample(false, false, "retrying"));
  m.sample("n1", 600 * kMs, sample(false, true, "retrying"));
  m.node_down("n1");
  m.sample("n1", 1700 * kMs, sample(false, true, "retrying"));
  CHECK(m.violations().empty());
}

TEST_CASE("no-stuck-recovering: CLUSTERDOWN from a primary that owns the slot, once quiet") {
  RecoveringMonitor m(1000 * kMs, 3000 * kMs);
  m.reply("n1", 1, "GET k", "CLUSTERDOWN The cluster is down: this node is recovering", true, 1000 * kMs);
  m.reply("n1", 2, "GET k", "CLUSTERDOWN Hash slot not served", false, 9000 * kMs);
  m.reply("n1", 3, "GET k", "MOVED 1 n0:6379", true, 9000 * kMs);
  CHECK(m.violations().empty());
  m.reply("n1", 4, "GET k", "CLUSTERDOWN The cluster is down: this node is recovering", true, 9000 * kMs);
  REQUIRE(m.violations().size() == 1);
  CHECK(m.violations()[0].evidence["command"] == "GET k");
  CHECK(m.violations()[0].message.find("CLUSTERDOWN") != std::string::npos);
}

TEST_CASE("no-stuck-recovering: still recovering after liveness") {
  RunFacts facts;
  NodeFinal f;
  f.node = "n1";
  f.up = true;
  f.role = "primary";
  f.recovering = true;
  f.sync_state = "none";
  f.last_sync_error = "cannot connect to primary n0:6379";
  NodeFinal ok;
  ok.node = "n0";
  ok.up = true;
  facts.finals = {f, ok};
  auto v = check_no_stuck_recovering_final(facts, 9);
  REQUIRE(v.size() == 1);
  CHECK(v[0].node == "n1");
  CHECK(v[0].evidence["last_sync_error"] == "cannot connect to primary n0:6379");
}
