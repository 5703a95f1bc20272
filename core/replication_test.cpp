// core/replication_test.cpp — the pure parts of replication: the primary's choice between AOF-only and
// full sync on both sides of every boundary, and the text forms of ids and sync requests.
#include "core/replication.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using replsim::core::choose_sync_mode;
using replsim::core::ReplicationIds;
using replsim::core::SyncMode;
using replsim::core::SyncRequest;

namespace {

const std::string kX(40, 'a');  // the history both started in
const std::string kY(40, 'b');  // the primary's history after a failover
const std::string kZ(40, 'c');  // an unrelated history

SyncRequest request(std::string replid, std::uint64_t tail, std::uint64_t decree, std::string replid2 = "",
                    std::uint64_t offset2 = 0) {
  SyncRequest r;
  r.replica_id = std::string(40, 'e');
  r.host = "c0n1";
  r.port = 6379;
  r.ids = ReplicationIds{std::move(replid), std::move(replid2), offset2};
  r.aof_tail = tail;
  r.last_decree = decree;
  return r;
}

}  // namespace

TEST_CASE("partial vs full sync on both sides of the AOF begin boundary") {
  const ReplicationIds primary{kX, "", 0};
  // The primary holds [4096, 10000); the record ending at 4096 has decree 40.
  const std::uint64_t begin = 4096;
  const std::uint64_t tail = 10000;
  // At the boundary: the primary can serve from exactly there.
  auto at = choose_sync_mode(request(kX, begin, 40), primary, begin, tail, 40);
  CHECK(at.mode == SyncMode::partial);
  // One record below: the primary no longer has what the replica needs (incident 000's
  // replicaAofTail < canServeFromAofAddress), so a full sync, not an error.
  auto below = choose_sync_mode(request(kX, begin - 64, 39), primary, begin, tail, std::nullopt);
  CHECK(below.mode == SyncMode::full);
  CHECK(below.reason.find("below the address this primary can serve from (4096)") != std::string::npos);
  // Above it, on a record boundary with the same decree: partial.
  auto above = choose_sync_mode(request(kX, 5000, 50), primary, begin, tail, 50);
  CHECK(above.mode == SyncMode::partial);
  // At the tail: partial with nothing to send yet.
  CHECK(choose_sync_mode(request(kX, tail, 99), primary, begin, tail, 99).mode == SyncMode::partial);
  // Past the tail (the primary lost records the replica has): full.
  CHECK(choose_sync_mode(request(kX, tail + 64, 100), primary, begin, tail, std::nullopt).mode == SyncMode::full);
}

TEST_CASE("history mismatch, a diverged suffix, a non-boundary or a decree mismatch force a full sync") {
  const ReplicationIds primary{kY, kX, 8000};  // failed over at 8000 from history X
  const std::uint64_t begin = 0;
  const std::uint64_t tail = 12000;
  // A former replica of X at or below 8000 continues.
  CHECK(choose_sync_mode(request(kX, 8000, 80), primary, begin, tail, 80).mode == SyncMode::partial);
  CHECK(choose_sync_mode(request(kX, 7000, 70), primary, begin, tail, 70).mode == SyncMode::partial);
  // The old primary of X with records past 8000 that the new primary never got: full (incident 002's
  // follow-up and 000's duplicated list elements came from replaying such a suffix).
  auto diverged = choose_sync_mode(request(kX, 8100, 81), primary, begin, tail, 81);
  CHECK(diverged.mode == SyncMode::full);
  CHECK(diverged.reason.find("replication id mismatch") != std::string::npos);
  // An unrelated history: full.
  CHECK(choose_sync_mode(request(kZ, 100, 1), primary, begin, tail, 1).mode == SyncMode::full);
  // A replica of the current history: partial.
  CHECK(choose_sync_mode(request(kY, 11000, 110), primary, begin, tail, 110).mode == SyncMode::partial);
  // The replica's tail is not a record boundary here, or the decrees disagree: full.
  CHECK(choose_sync_mode(request(kY, 11001, 110), primary, begin, tail, std::nullopt).mode == SyncMode::full);
  auto decree = choose_sync_mode(request(kY, 11000, 111), primary, begin, tail, 110);
  CHECK(decree.mode == SyncMode::full);
  CHECK(decree.reason.find("decree") != std::string::npos);
}

TEST_CASE("a node that restarted as primary (new id, old one as replid2) can still continue from its prefix") {
  // The replica restarted as a primary with a stale config: replid Z, replid2 X up to its tail 5000,
  // and it wrote nothing since. The new primary is Y with X up to 8000.
  const ReplicationIds primary{kY, kX, 8000};
  CHECK(choose_sync_mode(request(kZ, 5000, 50, kX, 5000), primary, 0, 9000, 50).mode == SyncMode::partial);
  // If it did write after its restart, its log is no longer X's: full.
  CHECK(choose_sync_mode(request(kZ, 5100, 51, kX, 5000), primary, 0, 9000, 51).mode == SyncMode::full);
}

TEST_CASE("ids and sync requests round trip through their text forms") {
  const ReplicationIds ids{kY, kX, 8000};
  auto parsed = ReplicationIds::parse(ids.serialize());
  REQUIRE(parsed.is_ok());
  CHECK(parsed.value() == ids);
  const ReplicationIds no2{kY, "", 0};
  auto parsed2 = ReplicationIds::parse(no2.serialize());
  REQUIRE(parsed2.is_ok());
  CHECK(parsed2.value() == no2);
  CHECK_FALSE(ReplicationIds::parse("replid2 -\n").is_ok());

  const SyncRequest r = request(kY, 123, 4, kX, 100);
  auto back = SyncRequest::from_argv(r.to_argv());
  REQUIRE(back.is_ok());
  CHECK(back->ids == r.ids);
  CHECK(back->aof_tail == 123);
  CHECK(back->last_decree == 4);
  CHECK(back->host == "c0n1");
  auto argv = r.to_argv();
  argv[8] = "x";
  CHECK_FALSE(SyncRequest::from_argv(argv).is_ok());
  argv.pop_back();
  CHECK_FALSE(SyncRequest::from_argv(argv).is_ok());
}
